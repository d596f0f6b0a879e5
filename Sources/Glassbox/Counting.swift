/// A count and its noun, agreeing in number: "1 file", "2 files", "0 files". `plural` is for
/// nouns that do not just take an "s" ("1 entry", "3 entries").
public func counting<N: BinaryInteger>(_ count: N, _ singular: String, _ plural: String? = nil) -> String {
    "\(count) \(count == 1 ? singular : plural ?? singular + "s")"
}
