# Sourced by setup.sh and sanitize.sh: compiles through ccache where it is installed, so rebuilds after
# small changes (and CI on a machine that built before) are fast. Sets LAUNCHER (cmake arguments).
LAUNCHER=()
if command -v ccache > /dev/null; then
  LAUNCHER=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  # Precompiled headers need these to be cached (ccache's manual, "Precompiled headers").
  export CCACHE_SLOPPINESS="${CCACHE_SLOPPINESS:-pch_defines,time_macros,include_file_mtime,include_file_ctime}"
  # Paths below the checkout are hashed relative to it, so another clone of the tree hits the same cache.
  export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$PWD}"
fi
