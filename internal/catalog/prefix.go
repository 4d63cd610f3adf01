package catalog

import (
	"fmt"
	"sort"
	"strings"
)

// prefixChunk bounds how many prefixes go into one query, keeping its
// UNION ALL (two terms per prefix) inside SQLite's limit of 500 terms.
const prefixChunk = 100

// cleanPrefix trims trailing slashes ("/" stays "/") and rejects empty
// prefixes and NUL bytes.
func cleanPrefix(prefix string) (string, error) {
	if prefix == "" {
		return "", fmt.Errorf("empty path prefix")
	}
	if strings.IndexByte(prefix, 0) >= 0 {
		return "", fmt.Errorf("path prefix %q contains a NUL byte", prefix)
	}
	p := strings.TrimRight(prefix, "/")
	if p == "" {
		p = "/"
	}
	return p, nil
}

// prefixRange returns the half-open byte range [lo, hi) holding exactly the
// strings that start with prefix+"/" ('0' is the byte after '/'). For "/" it
// holds every string starting with "/", "/" included.
func prefixRange(prefix string) (lo, hi string) {
	if prefix == "/" {
		return "/", "0"
	}
	return prefix + "/", prefix + "0"
}

// normalizePrefixes cleans prefixes and drops those inside another, so the
// remaining ones select disjoint sets of paths. It returns them sorted.
func normalizePrefixes(prefixes []string) ([]string, error) {
	set := make(map[string]bool, len(prefixes))
	for _, p := range prefixes {
		cp, err := cleanPrefix(p)
		if err != nil {
			return nil, err
		}
		set[cp] = true
	}
	var out []string
	for p := range set {
		if !coveredByAncestor(p, set) {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out, nil
}

// coveredByAncestor reports whether a proper ancestor of p is in set.
func coveredByAncestor(p string, set map[string]bool) bool {
	if p != "/" && strings.HasPrefix(p, "/") && set["/"] {
		return true
	}
	for i := len(p) - 1; i > 0; i-- {
		if p[i] == '/' && set[strings.TrimRight(p[:i], "/")] {
			return true
		}
	}
	return false
}

// perPath builds a query with one row per path of the target under any of
// prefixes (normalized; all paths when none), computing the aggregate
// columns cols over that path's rows (recorded at or before the time
// argument, if asOf). Each prefix becomes one or two index range scans
// joined by UNION ALL: comparisons only, so no byte of a prefix has a
// special meaning, and the (target_id, path, id) index serves every scan.
// Normalized prefixes are disjoint, so no path appears twice.
func perPath(cols string, targetID int64, prefixes []string, asOf bool, at string) (string, []any) {
	var conds []string
	var condArgs [][]any
	if len(prefixes) == 0 {
		conds = append(conds, "path IS NOT NULL")
		condArgs = append(condArgs, nil)
	}
	for _, p := range prefixes {
		lo, hi := prefixRange(p)
		if p != "/" { // the root's range already holds "/"
			conds = append(conds, "path = ?")
			condArgs = append(condArgs, []any{p})
		}
		conds = append(conds, "path >= ? AND path < ?")
		condArgs = append(condArgs, []any{lo, hi})
	}
	var b strings.Builder
	var args []any
	for i, cond := range conds {
		if i > 0 {
			b.WriteString(" UNION ALL ")
		}
		fmt.Fprintf(&b, "SELECT %s FROM sync_history WHERE target_id = ? AND %s", cols, cond)
		args = append(args, targetID)
		args = append(args, condArgs[i]...)
		if asOf {
			b.WriteString(" AND coalesce(recorded_at, '') <= ?")
			args = append(args, at)
		}
		b.WriteString(" GROUP BY path")
	}
	return b.String(), args
}

// chunks splits prefixes into groups of at most prefixChunk; no prefixes is
// one empty group (select everything).
func chunks(prefixes []string) [][]string {
	if len(prefixes) == 0 {
		return [][]string{nil}
	}
	var out [][]string
	for len(prefixes) > prefixChunk {
		out = append(out, prefixes[:prefixChunk])
		prefixes = prefixes[prefixChunk:]
	}
	return append(out, prefixes)
}
