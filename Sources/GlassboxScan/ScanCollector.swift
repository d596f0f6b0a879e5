import Foundation
import GlassboxGit

/// Gathers what the scan needs from each path's content, from worker threads, so a scan can
/// ride along with any pass that reads the tree (verify-release hashes and scans in one pass).
/// Each file streams through its own scanner; what is kept per file is bounded, whatever its size.
public final class ScanCollector: @unchecked Sendable {
    private let options: ScanOptions
    private let lock = NSLock()
    private var contentFindings: [ScanFinding] = []
    private var facts = TreeFacts()
    /// Bytes of attributes files promised to readers still streaming them, or kept.
    private var attributeBytes = 0
    /// Set once, read by every worker without the lock.
    private let attributeSource: AttributeSource

    /// `attributeSource`: `.gitObjects` when the content shown is a commit's stored blobs, so
    /// the attributes rule computes what a checkout makes of them; `filterDrivers`: then, the
    /// filter drivers the repository's config defines, which a checkout there runs.
    public init(options: ScanOptions, attributeSource: AttributeSource = .files, filterDrivers: Set<[UInt8]> = []) {
        self.options = options
        self.attributeSource = attributeSource
        facts.attributeSource = attributeSource
        facts.filterDrivers = filterDrivers
    }

    public var inspector: ContentInspector { { self.inspect($0) } }

    /// Where one path's content goes: files stream through a scanner as they are read.
    public func inspect(_ item: ContentVisit) -> (any ContentSink)? {
        switch item.kind {
        case .link:
            lock.withLock { facts.linkTargets[item.path] = item.linkTarget }
            return nil
        case .submodule:
            if !item.isPresent { lock.withLock { facts.missingSubmodules.append(item.path) } }
            return nil
        case .file, .exec:
            let name = item.path.split(separator: UInt8(ascii: "/")).last.map(Array.init) ?? []
            var keepAttributes = false
            if name == Array(".gitattributes".utf8) {
                keepAttributes = lock.withLock {
                    guard item.size <= UInt64(AttributeLimits.fileBytes),
                          attributeBytes + Int(item.size) <= AttributeLimits.totalBytes else {
                        facts.oversizedGitattributes.append(item.path)
                        return false
                    }
                    attributeBytes += Int(item.size)
                    return true
                }
            }
            return FileScan(item, self, keepAttributes: keepAttributes)
        }
    }

    fileprivate func finished(_ item: ContentVisit, _ found: [ScanFinding], attributes: [UInt8]?, conversion: ConversionFacts) {
        lock.withLock {
            contentFindings += found
            if let attributes { facts.gitattributes[item.path] = attributes }
            if !conversion.isEmpty { facts.conversions[item.path] = conversion }
        }
    }

    fileprivate func attributesTooLarge(_ item: ContentVisit) {
        lock.withLock { facts.oversizedGitattributes.append(item.path) }
    }

    fileprivate var scanOptions: ScanOptions { options }
    fileprivate var readsGitObjects: Bool { attributeSource == .gitObjects }
}

/// One file on its way through the scan: every chunk goes to the content scanner (until it has
/// seen enough, for a binary file) and, for a tree of git objects, to the attributes rule's
/// probe (to the end: a few counters), and an attributes file is also kept, up to its bound.
/// A tree read as files needs no probe (its bytes are already the ones checked out), so a
/// binary file there is read no further than the scanner needs.
private final class FileScan: ContentSink {
    private let item: ContentVisit
    private let collector: ScanCollector
    private let scanner: ContentScanner
    private var scanning = true
    private var attributes: [UInt8]?
    private var probe: ConversionProbe?

    init(_ item: ContentVisit, _ collector: ScanCollector, keepAttributes: Bool) {
        self.item = item
        self.collector = collector
        scanner = ContentScanner(path: item.path, size: item.size, options: collector.scanOptions)
        if keepAttributes { attributes = [] }
        if collector.readsGitObjects { probe = ConversionProbe() }
    }

    func consume(_ chunk: UnsafeRawBufferPointer) -> Bool {
        if scanning { scanning = scanner.consume(chunk) }
        probe?.consume(chunk)
        if attributes != nil {
            // The size was checked before reading; a file that grows past it is not kept.
            if attributes!.count + chunk.count > min(Int(item.size), AttributeLimits.fileBytes) {
                attributes = nil
                collector.attributesTooLarge(item)
            } else {
                attributes!.append(contentsOf: chunk)
            }
        }
        return scanning || attributes != nil || probe != nil
    }

    func finish() { collector.finished(item, scanner.finish(), attributes: attributes, conversion: probe?.finish() ?? []) }
}

extension ScanCollector {
    /// Every finding, content and tree rules together, in path order. `entries` is the tree
    /// the reader produced, sorted by path (the collector does not keep a second copy).
    public func findings(entries: [TreeEntry]) -> [ScanFinding] {
        lock.withLock {
            facts.missingSubmodules.sort { $0.lexicographicallyPrecedes($1) }
            var all = contentFindings + scanTree(entries, facts: facts)
            all.sort { ($0.path, $0.line ?? 0, $0.column ?? 0, $0.rule, $0.message) < ($1.path, $1.line ?? 0, $1.column ?? 0, $1.rule, $1.message) }
            return all
        }
    }
}

