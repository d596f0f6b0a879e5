# Shared by Scripts/demo, Scripts/test and Scripts/bench: find Swift, install what is missing.
# Sourced, not run.

# Swift lives in /opt/swift on the project's machines; put it on PATH if it is not already.
if ! command -v swift >/dev/null 2>&1 && [ -x /opt/swift/usr/bin/swift ]; then
    export PATH="/opt/swift/usr/bin:$PATH"
fi

# Bold only on a terminal, and not when NO_COLOR is set (https://no-color.org).
if [ -t 2 ] && [ -z "${NO_COLOR:-}" ]; then bold=$'\033[1m' cyan=$'\033[36m' plain=$'\033[0m'; else bold='' cyan='' plain=''; fi
say() { printf '%s==> %s%s\n' "$bold" "$*" "$plain" >&2; }

# ensure_packages PKG...: installs the Debian packages that are not installed yet.
ensure_packages() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    say "installing ${missing[*]}"
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || { echo "glassbox: error: need root or sudo to install: ${missing[*]}" >&2; exit 2; }
        sudo=sudo
    fi
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The packages every build and test needs.
BASE_PACKAGES=(libgit2-dev libssl-dev zlib1g-dev liblzma-dev libbz2-dev libzstd-dev pkg-config git python3 tar)

require_swift() {
    command -v swift >/dev/null 2>&1 || {
        echo "glassbox: error: swift is not on PATH and not in /opt/swift" >&2
        echo "glassbox: hint: install Swift 6 from swift.org and put its usr/bin on PATH" >&2
        exit 2
    }
}

# ensure_pypi PACKAGE COMMAND: installs a PyPI package when its command is missing.
ensure_pypi() {
    command -v "$2" >/dev/null 2>&1 && return 0
    say "installing $1 (PyPI)"
    python3 -m pip install -q "$1" >/dev/null 2>&1 || { echo "glassbox: error: could not install $1 from PyPI" >&2; exit 2; }
}
