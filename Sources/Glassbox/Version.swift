/// This release of Glassbox: what `--version` prints for both executables, and what SARIF and
/// other outputs name as the tool's version. One place, so they cannot disagree.
public enum GlassboxVersion {
    public static let string = "0.2.0"
}
