package engine

import (
	"fmt"
	"path/filepath"
)

// SourceNote says why a source named on the command line was dropped.
type SourceNote struct {
	Source string // the dropped source, as resolved
	Why    string
}

func (n SourceNote) String() string { return n.Source + ": " + n.Why }

// DedupSources drops the sources that another one already covers: the same
// folder named twice (also through a symlink, or as "./src/../src"), and a
// folder or file inside another source. Each file is then walked once and
// gets at most one new version per run; it is recorded under the path of
// the source that covers it. sources are absolute, cleaned paths; their
// order is kept.
func DedupSources(sources []string) ([]string, []SourceNote) {
	type src struct{ path, real string }
	var kept []src
	var notes []SourceNote
	for _, p := range sources {
		real, err := filepath.EvalSymlinks(p)
		if err != nil {
			real = p // the walk reports what is wrong with it
		}
		covered := false
		for _, k := range kept {
			switch {
			case real == k.real:
				notes = append(notes, SourceNote{p, fmt.Sprintf("the same as %s; backed up once", k.path)})
				covered = true
			case underAny(real, []string{k.real}):
				notes = append(notes, SourceNote{p, fmt.Sprintf("inside %s; backed up with it", k.path)})
				covered = true
			}
			if covered {
				break
			}
		}
		if covered {
			continue
		}
		// An earlier source inside this one is now covered by it.
		out := kept[:0]
		for _, k := range kept {
			if underAny(k.real, []string{real}) {
				notes = append(notes, SourceNote{k.path, fmt.Sprintf("inside %s; backed up with it", p)})
				continue
			}
			out = append(out, k)
		}
		kept = append(out, src{p, real})
	}
	paths := make([]string, len(kept))
	for i, k := range kept {
		paths[i] = k.path
	}
	return paths, notes
}
