package ingest

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path"
	"strings"
)

// matchGlob reports whether the slash-separated path name matches pattern.
// Within a segment, pattern has path.Match syntax (*, ?, [a-z], \x); a
// segment "**" matches any number of segments, none included.
func matchGlob(pattern, name string) (bool, error) {
	return matchSegs(strings.Split(pattern, "/"), strings.Split(name, "/"))
}

func matchSegs(pat, name []string) (bool, error) {
	for len(pat) > 0 {
		if pat[0] == "**" {
			// Collapse runs of ** and try every split point.
			for len(pat) > 0 && pat[0] == "**" {
				pat = pat[1:]
			}
			if len(pat) == 0 {
				return true, nil
			}
			for i := range len(name) + 1 {
				if ok, err := matchSegs(pat, name[i:]); ok || err != nil {
					return ok, err
				}
			}
			return false, nil
		}
		if len(name) == 0 {
			return false, nil
		}
		ok, err := path.Match(pat[0], name[0])
		if err != nil || !ok {
			return false, err
		}
		pat, name = pat[1:], name[1:]
	}
	return len(name) == 0, nil
}

// validGlob checks the syntax of a pattern up front, so that a typo is an
// error rather than a rule that silently matches nothing.
func validGlob(pattern string) error {
	for _, seg := range strings.Split(pattern, "/") {
		if _, err := path.Match(seg, ""); err != nil {
			return fmt.Errorf("bad pattern %q: %w", pattern, err)
		}
	}
	return nil
}

// hasMeta reports whether s holds glob syntax.
func hasMeta(s string) bool { return strings.ContainsAny(s, "*?[") }

// filterRule is an include or exclude pattern. A pattern without a slash
// matches the base name at any depth; one with a slash matches the path
// relative to the walked folder (a leading slash is allowed).
type filterRule struct {
	pattern  string
	anchored bool
}

func newFilterRules(patterns []string) ([]filterRule, error) {
	rules := make([]filterRule, 0, len(patterns))
	for _, p := range patterns {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		p = strings.TrimSuffix(p, "/")
		r := filterRule{pattern: strings.TrimPrefix(p, "/"), anchored: strings.Contains(p, "/")}
		if err := validGlob(r.pattern); err != nil {
			return nil, err
		}
		rules = append(rules, r)
	}
	return rules, nil
}

// matchAny reports whether rel (slash-separated, relative) matches a rule.
func matchAny(rules []filterRule, rel string) bool {
	for _, r := range rules {
		target := rel
		if !r.anchored {
			target = path.Base(rel)
		}
		if ok, _ := matchGlob(r.pattern, target); ok {
			return true
		}
	}
	return false
}

// ignoreRule is one line of a gitignore-style file.
type ignoreRule struct {
	base     string // folder of the ignore file, relative to the walk root ("" at the root)
	pattern  string
	negate   bool // "!pattern" re-includes
	dirOnly  bool // "pattern/" matches folders only
	anchored bool // a slash before the end: relative to base, else any depth
}

// parseIgnore reads the rules of an ignore file in folder base (relative to
// the walk root). The syntax is gitignore's: blank lines and "#" comments are
// skipped, "!" negates, a trailing "/" restricts to folders, a leading or
// inner "/" anchors the pattern to the file's folder, "**" spans folders,
// "\#" and "\!" escape. Trailing spaces are trimmed unless escaped.
func parseIgnore(data []byte, base string) ([]ignoreRule, error) {
	var rules []ignoreRule
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if !strings.HasSuffix(line, `\ `) {
			line = strings.TrimRight(line, " \t")
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		var r ignoreRule
		r.base = base
		if strings.HasPrefix(line, "!") {
			r.negate = true
			line = line[1:]
		} else if strings.HasPrefix(line, `\!`) || strings.HasPrefix(line, `\#`) {
			line = line[1:]
		}
		if strings.HasSuffix(line, "/") {
			r.dirOnly = true
			line = strings.TrimRight(line, "/")
		}
		if line == "" {
			continue
		}
		r.anchored = strings.Contains(line, "/")
		r.pattern = strings.TrimPrefix(line, "/")
		if err := validGlob(r.pattern); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		rules = append(rules, r)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return rules, nil
}

// ignored reports whether rel (relative to the walk root) is ignored by
// rules, which are ordered from the root's ignore file down to the deepest
// folder's: the last rule that matches decides, as in git.
func ignored(rules []ignoreRule, rel string, isDir bool) bool {
	out := false
	for _, r := range rules {
		if r.dirOnly && !isDir {
			continue
		}
		sub := rel
		if r.base != "" {
			if !strings.HasPrefix(rel, r.base+"/") {
				continue
			}
			sub = rel[len(r.base)+1:]
		}
		target := sub
		if !r.anchored {
			target = path.Base(sub)
		}
		if ok, _ := matchGlob(r.pattern, target); ok {
			out = !r.negate
		}
	}
	return out
}

// readIgnoreFiles loads the ignore files named names from folder dir, whose
// path relative to the walk root is rel.
func readIgnoreFiles(dir, rel string, names []string) ([]ignoreRule, error) {
	var rules []ignoreRule
	for _, n := range names {
		data, err := os.ReadFile(dir + string(os.PathSeparator) + n)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		r, err := parseIgnore(data, rel)
		if err != nil {
			return nil, fmt.Errorf("%s%c%s: %w", dir, os.PathSeparator, n, err)
		}
		rules = append(rules, r...)
	}
	return rules, nil
}
