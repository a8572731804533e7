# Sourced by ./requant and ./test.sh: finds a JDK 25 (JAVA_HOME first, then /usr/lib/jvm/*25*) and exports JAVA_HOME.
# Reads the JDK's `release` file (JAVA_VERSION="25.0.3") rather than running `java -version`: starting a JVM only to
# ask its version cost 0.1-0.3 s of every command. Falls back to `java -version` for a JDK without that file.
# Sets requant_major to the major version of the JDK in $1 (no subshell: this runs before every command).
requant_java_major() {
  local v="" line
  if [ -f "$1/release" ]; then
    while IFS= read -r line; do
      case "$line" in JAVA_VERSION=\"[0-9]*) v="${line#JAVA_VERSION=\"}"; v="${v%%[!0-9]*}"; break ;; esac
    done <"$1/release"
  fi
  if [ -z "$v" ]; then
    v=$("$1/bin/java" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1)
  fi
  requant_major="$v"
}
requant_find_jdk() {
  local candidate requant_major
  for candidate in "${JAVA_HOME:-}" /usr/lib/jvm/*25*; do
    [ -n "$candidate" ] && [ -x "$candidate/bin/java" ] || continue
    # Accept 25 and newer.
    requant_java_major "$candidate"
    if [ -n "$requant_major" ] && [ "$requant_major" -ge 25 ]; then
      export JAVA_HOME="$candidate"
      return 0
    fi
  done
  echo "requant: no JDK 25 found (set JAVA_HOME, or install e.g. temurin-25-jdk under /usr/lib/jvm)" >&2
  return 1
}
