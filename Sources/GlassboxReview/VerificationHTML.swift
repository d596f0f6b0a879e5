import Glassbox

extension VerificationReport {
    /// One self-contained page for the record (see `htmlPageStart`): the verdict, what was
    /// checked and every finding. Every string from input was made safe for a terminal as the report was built (hidden
    /// characters are `⟨U+XXXX⟩` text); here it is HTML-escaped and those escapes are marked.
    func html(manifest: String?, proof: String?, trust: String) -> String {
        var out = htmlPageStart(title: "Glassbox verification", style: """
            h1{font-size:1.35em;padding:.5em .7em;border-radius:4px}
            h1.ok{background:#dafbe1;color:#116329}h1.fail{background:#ffebe9;color:#a40e26}
            td,th{padding:.25em .8em;vertical-align:top}code{overflow-wrap:anywhere}
            table.findings{width:100%}.findings td:nth-child(-n+2){white-space:nowrap}.findings td:nth-child(3){min-width:12em;max-width:28em}
            .sev{font-weight:600}.failure{color:#a40e26}.note{color:#57606a}
            .not{color:#a40e26;font-weight:600}
            .hid{white-space:nowrap}
            """)
        out += "<h1 class=\"\(verified ? "ok" : "fail")\">\(page(verdictLine))</h1>\n"
        out += "<h2>What was checked</h2>\n<table>\n"
        func row(_ name: String, _ value: String) { out += "<tr><th>\(name)</th><td>\(value)</td></tr>\n" }
        row("release", page("\(name ?? "?") \(version ?? "?")"))
        row("origin", page(origin ?? "?"))
        if let commit { row("commit", "<code>\(page(commit))</code>") }
        if let manifest { row("manifest", "<code>\(page(Display.field(manifest)))</code>") }
        if let proof { row("proof", "<code>\(page(Display.field(proof)))</code>") }
        row("trust policy", "<code>\(page(Display.field(trust)))</code>")
        let keys = signers.map { "<code>\(page($0))</code>" }.joined(separator: "<br>")
        row("signatures", "\(signers.count) of \(threshold ?? 0) required" + (keys.isEmpty ? "" : "<br>" + keys))
        if let provenPath = checked.provenPath { row("proves", "<code>\(page(provenPath))</code>") }
        if let source = checked.source {
            row("source", page(source) + "<br>" + page("\(counting(checked.entriesListed, "entry", "entries")) listed, \(checked.entriesFound) found"))
        } else {
            row("source", "not read: the manifest is not trusted")
        }
        if checked.artifactsListed > 0 || checked.artifactsChecked > 0 {
            var cell = page("\(checked.artifactsListed) listed, \(counting(checked.artifactsChecked, "file")) given")
            if let notChecked = checked.artifactsNotChecked {
                cell += " (--artifact); " + (notChecked.isEmpty ? "every listed artifact checked"
                    : "<span class=\"not\">\(notChecked.count) NOT checked:</span> " + notChecked.map { "<code>\(page($0))</code>" }.joined(separator: ", "))
            }
            row("artifacts", cell)
        }
        for ignored in checked.ignoredUnlisted ?? [] {
            row("ignored", "--ignore-unlisted <code>\(page(ignored.glob))</code>: "
                + (ignored.files.isEmpty ? "matched no file" : ignored.files.map { "<code>\(page($0))</code>" }.joined(separator: ", ")))
        }
        if let log { row("log", page(log)) }
        if let rebuilders, let rebuildThreshold, let rebuildAttestations {
            row("rebuilds", page("\(rebuilders.count) of \(rebuildThreshold) required trusted rebuilders, "
                                 + "\(counting(rebuildAttestations, "attestation")) given")
                + rebuilders.map { "<br><code>\(page($0))</code>" }.joined())
        }
        if scanRan {
            let counts = ["error", "warning", "note"].map { counting(scanCounts[$0] ?? 0, $0) }.joined(separator: ", ")
            let threshold = scanFailOn == nil || scanFailOn == "none" ? "the scan does not count"
                : "findings at \(scanFailOn!) or above fail"
            row("scan", page("\(counts) (\(threshold): \(scanFailOnSource ?? "default"))")
                + (scanExceptions.map { "<br>" + page("\(counting(scanExcepted, "finding")) excepted by \($0)") } ?? ""))
        } else {
            row("scan", "<span class=\"not\">not run</span> (--skip-scan-unsafe)")
        }
        out += "</table>\n"
        if findings.isEmpty { out += "<h2>Findings</h2>\n<p>None.</p>\n" }
        for category in Finding.Category.allCases {
            let group = findings.filter { $0.category == category.rawValue }
            if group.isEmpty { continue }
            let failing = group.filter { $0.severity == "failure" }.count
            out += "<h2>\(category.rawValue) (\(group.count)\(failing > 0 ? ", \(failing) failing" : ""))</h2>\n<table class=\"findings\">\n"
            for f in group {
                out += "<tr><td class=\"sev \(f.severity == "failure" ? "failure" : "note")\">\(f.severity == "failure" ? "✗ failure" : "· note")</td>"
                out += "<td><code>\(page(f.code))</code></td><td><code>\(page(f.subject ?? ""))</code></td><td>\(page(f.message))</td></tr>\n"
            }
            out += "</table>\n"
        }
        out += "</body></html>\n"
        return out
    }

    /// Report text (already made safe for a terminal) for the page: HTML-escaped, with each
    /// `⟨U+XXXX⟩` escape marked so a hidden character stands out where it was.
    private func page(_ text: String) -> String {
        var out = ""
        var rest = Substring(text)
        while let open = rest.range(of: "⟨U+") {
            guard let close = rest[open.upperBound...].firstIndex(of: "⟩") else { break }
            out += escapeHTML(String(rest[..<open.lowerBound]))
            out += "<mark class=\"hid\">\(escapeHTML(String(rest[open.lowerBound...close])))</mark>"
            rest = rest[rest.index(after: close)...]
        }
        return out + escapeHTML(String(rest))
    }
}
