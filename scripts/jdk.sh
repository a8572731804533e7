# Sourced by ./requant and ./test.sh: finds a JDK 25 (JAVA_HOME first, then /usr/lib/jvm/*25*) and exports JAVA_HOME.
requant_find_jdk() {
  local candidate
  for candidate in "${JAVA_HOME:-}" /usr/lib/jvm/*25*; do
    [ -n "$candidate" ] && [ -x "$candidate/bin/java" ] || continue
    # Accept 25 and newer: the release line is the first number of `java -version`.
    local major
    major=$("$candidate/bin/java" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1)
    if [ -n "$major" ] && [ "$major" -ge 25 ]; then
      export JAVA_HOME="$candidate"
      return 0
    fi
  done
  echo "requant: no JDK 25 found (set JAVA_HOME, or install e.g. temurin-25-jdk under /usr/lib/jvm)" >&2
  return 1
}
