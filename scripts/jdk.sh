# Sourced by ./requant and ./test.sh: finds a JDK 25 (JAVA_HOME first, then /usr/lib/jvm/*25*) and exports JAVA_HOME.
# Reads the JDK's `release` file (JAVA_VERSION="25.0.3") rather than running `java -version`: starting a JVM only to
# ask its version cost 0.1-0.3 s of every command. Falls back to `java -version` for a JDK without that file.
requant_java_major() {
  local v=""
  if [ -f "$1/release" ]; then
    v=$(sed -n 's/^JAVA_VERSION="\([0-9]*\).*/\1/p' "$1/release")
  fi
  if [ -z "$v" ]; then
    v=$("$1/bin/java" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1)
  fi
  echo "$v"
}
requant_find_jdk() {
  local candidate major
  for candidate in "${JAVA_HOME:-}" /usr/lib/jvm/*25*; do
    [ -n "$candidate" ] && [ -x "$candidate/bin/java" ] || continue
    # Accept 25 and newer.
    major=$(requant_java_major "$candidate")
    if [ -n "$major" ] && [ "$major" -ge 25 ]; then
      export JAVA_HOME="$candidate"
      return 0
    fi
  done
  echo "requant: no JDK 25 found (set JAVA_HOME, or install e.g. temurin-25-jdk under /usr/lib/jvm)" >&2
  return 1
}
