"""Fail on a documentation link that leaves the repository or points at nothing.

    python3 Tools/dev/check_links.py [FILE.md ...]

Checks README.md, docs/*.md, Tools/**/README.md and Fixtures/**/README.md (or the files given):
every relative Markdown link or image (`[text](path)`, `![alt](path)`, `[ref]: path`, and the
`href`/`src` of inline HTML) must resolve, from the file's folder, to a file or folder inside the
repository that exists, and a `#fragment` must name a heading (GitHub's anchors) of the target
Markdown file. Absolute paths (`/...`, `file:`) and paths into a sibling checkout (`../shared/...`,
also outside links) fail too; web links (`https:` and other schemes) are not fetched. Links in
fenced code blocks and code spans are ignored. Prints one line per problem (`file:line: ...`) and
exits 1 if there is any; used by `.ci/run` (well under a second).
"""

import glob
import os
import re
import sys
import urllib.parse

ROOT = os.path.realpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
PATTERNS = ["README.md", "docs/*.md", "Tools/**/README.md", "Fixtures/**/README.md"]
SKIP = ("Tools/work/",)  # git-ignored scratch

INLINE = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*(<[^>]*>|[^)\s]+)(?:\s+[\"'(][^)]*)?\)")
REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)")
HTML = re.compile(r"""\b(?:href|src)\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
CODE_SPAN = re.compile(r"(`+)(.+?)\1")
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
# Plain-text mentions of a checkout beside the repository: a user's clone has none.
OUTSIDE_TEXT = re.compile(r"(?<![\w.])(?:\.\./)+shared/|/work/shared/")


def default_files():
    files = set()
    for pattern in PATTERNS:
        for path in glob.glob(os.path.join(ROOT, pattern), recursive=True):
            rel = os.path.relpath(path, ROOT)
            if not rel.startswith(SKIP):
                files.add(rel)
    return sorted(files)


def slug(heading):
    """GitHub's anchor for a heading text."""
    text = re.sub(r"<[^>]+>", "", heading)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link's text only
    text = text.replace("`", "").strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


_anchors = {}


def anchors(path):
    """Every anchor a Markdown file defines: heading slugs (with GitHub's -1, -2 for repeats) and
    explicit `id=`/`name=` attributes."""
    if path not in _anchors:
        seen, found, fenced = {}, set(), False
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.lstrip().startswith(("```", "~~~")):
                    fenced = not fenced
                    continue
                if fenced:
                    continue
                found.update(re.findall(r"""\b(?:id|name)\s*=\s*["']([^"']+)["']""", line))
                m = re.match(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$", line)
                if m:
                    base = slug(m.group(1))
                    n = seen.get(base, 0)
                    seen[base] = n + 1
                    found.add(base if n == 0 else f"{base}-{n}")
        _anchors[path] = found
    return _anchors[path]


def targets(line):
    """Link targets on one line outside code spans."""
    plain = CODE_SPAN.sub(lambda m: " " * len(m.group(0)), line)
    found = [m.group(1) for m in INLINE.finditer(plain)]
    found += [m.group(1) for m in HTML.finditer(plain)]
    m = REFERENCE.match(plain)
    if m:
        found.append(m.group(1))
    return [t[1:-1] if t.startswith("<") and t.endswith(">") else t for t in found], plain


def check(rel):
    problems = []
    path = os.path.join(ROOT, rel)
    folder = os.path.dirname(path)
    fenced = False
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    for number, line in enumerate(lines, 1):
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
            continue
        if fenced:
            continue
        found, plain = targets(line)
        if OUTSIDE_TEXT.search(plain):
            problems.append(f"{rel}:{number}: names a path outside the repository: {line.strip()}")
        for target in found:
            where = f"{rel}:{number}: link {target!r}"
            if target.startswith("file:") or target.startswith("/"):
                problems.append(f"{where} is an absolute path, not one inside the repository")
                continue
            if SCHEME.match(target):
                continue  # a web link
            link, _, fragment = target.partition("#")
            link = urllib.parse.unquote(link)
            resolved = os.path.realpath(os.path.join(folder, link)) if link else os.path.realpath(path)
            if os.path.commonpath([resolved, ROOT]) != ROOT:
                problems.append(f"{where} leaves the repository ({os.path.relpath(resolved, ROOT)})")
                continue
            if not os.path.exists(resolved):
                problems.append(f"{where} points at a missing file ({os.path.relpath(resolved, ROOT)})")
                continue
            if fragment and resolved.endswith(".md") and os.path.isfile(resolved):
                if urllib.parse.unquote(fragment).lower() not in anchors(resolved):
                    problems.append(f"{where}: no heading #{fragment} in {os.path.relpath(resolved, ROOT)}")
    return problems


def main(argv):
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    files = [os.path.relpath(os.path.abspath(a), ROOT) for a in argv] if argv else default_files()
    problems = [p for rel in files for p in check(rel)]
    for p in problems:
        print(p, file=sys.stderr)
    print(f"check_links: {len(files)} files, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
