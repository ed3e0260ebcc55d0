#ifndef CAPSKIT_BUILD_INFO_H
#define CAPSKIT_BUILD_INFO_H

/// The package version, e.g. "0.1.0" (defined once, in build_info.c).
const char *capskit_version(void);

/// The git commit the tools were built from: 12 hex digits, "-dirty" appended when tracked files
/// differed from it, or "unknown". Tools/user/install.sh passes it as
/// `-Xcc -DCAPSKIT_GIT_COMMIT="..."`; a plain `swift build` has none.
const char *capskit_git_commit(void);

/// What `--version` prints after the tool's name: "0.1.0 (commit 1a2b3c4d5e6f)".
const char *capskit_version_line(void);

#endif
