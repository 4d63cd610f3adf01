package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/grsync/grsync/internal/catalog"
	"github.com/grsync/grsync/internal/engine"
	"github.com/grsync/grsync/internal/ui"
)

func (a *app) lsCommand() *cobra.Command {
	var deleted, folders, versions bool
	cmd := &cobra.Command{
		Use:   "ls [flags] [PATH-or-PREFIX...]",
		Short: "List backed-up files from the catalogue",
		Long: `List the files and symlinks the catalogue records for the target (and with
--folders its folders, marked "(folder)"): size, number of versions, time of the
last backup, stored size, and the path, last, so that a long path never pushes
the other columns. A symlink shows its target after "->"; a file stored while it
was changing (--changing-files=store) is marked "(changed while read)". Files deleted from the source are shown only with
--deleted. Reads the catalogue only; nothing is fetched. Paths are printed
quoted, with any control character escaped; --json gives them as they are.

With --versions, every version of each selected file is listed, oldest first:
when it was recorded (what restore --at picks from), its size, and its state:
live (restorable; "current" marks the latest), deleted (the file was gone from
the source), forgotten (dropped by grsync forget; "content deleted" once prune
removed what it used), and changed-while-read (stored as read with
--changing-files store).`,
		RunE: func(cmd *cobra.Command, args []string) error {
			prefixes, err := absPaths(args)
			if err != nil {
				return err
			}
			s, err := a.openSessionFor(readCatalog)
			if err != nil {
				return err
			}
			defer s.Close()
			if err := a.checkStore(s, engine.StoreUse{}); err != nil {
				return err
			}
			if versions {
				return a.listVersions(s, prefixes, len(args) > 0)
			}
			sums, err := s.cat.Summaries(s.target.ID, prefixes)
			if err != nil {
				return err
			}
			if !a.out.JSON() {
				fmt.Fprintf(a.stdout, "%10s  %8s  %-19s  %10s  %s\n", "SIZE", "VERSIONS", "LAST BACKUP", "STORED", "PATH")
			}
			sum := lsSummary{Command: "ls", Target: s.target.Location}
			matched := false
			for _, f := range sums {
				if f.Deleted && !deleted {
					continue
				}
				matched = true
				if f.Kind == catalog.KindDir && !folders {
					continue
				}
				a.out.Result(lsFile{Path: ui.NewPath(f.Path), Kind: f.Kind.String(), linkJSON: newLinkJSON(f.Kind, f.LinkTarget),
					Size: f.Size, Versions: f.Versions, LastBackup: f.LastBackup, StoredSize: f.StoredSize, Deleted: f.Deleted,
					ChangedWhileRead: f.Flags&catalog.FlagChangedWhileRead != 0})
				switch f.Kind {
				case catalog.KindDir:
					sum.Folders++
				case catalog.KindSymlink:
					sum.Symlinks++
				default:
					sum.Files++
				}
			}
			if !matched && len(args) > 0 {
				return usagef("list everything with: grsync ls", "nothing in the catalogue matches the given paths")
			}
			a.out.Summary(sum)
			return nil
		},
	}
	cmd.Flags().BoolVar(&deleted, "deleted", false, "also list files deleted from the source")
	cmd.Flags().BoolVar(&folders, "folders", false, "also list folders (empty ones too): their versions record mode, times and owner")
	cmd.Flags().BoolVar(&versions, "versions", false, "list every version of each file with its time, size and state (live, deleted, forgotten, changed-while-read)")
	return cmd
}

// listVersions lists every row of each selected path (ls --versions).
func (a *app) listVersions(s *session, prefixes []string, named bool) error {
	paths, n := 0, 0
	err := s.cat.History(s.target.ID, prefixes, func(path string, rows []catalog.VersionState) error {
		paths++
		if !a.out.JSON() {
			fmt.Fprintf(a.stdout, "%s\n", strconv.Quote(path))
		}
		latest := len(rows) - 1
		for i, r := range rows {
			v := lsVersion{Path: ui.NewPath(path), Time: r.Timestamp, Size: r.Size, Kind: r.Kind.String(),
				ChangedWhileRead: r.Flags&catalog.FlagChangedWhileRead != 0, ContentStored: !r.Gone}
			if !r.Forgotten.IsZero() {
				t := r.Forgotten
				v.Forgotten = &t
			}
			switch {
			case r.Deleted:
				v.State = "deleted"
				v.Kind = ""
			case !r.Forgotten.IsZero():
				v.State = "forgotten"
			default:
				v.State = "live"
				v.Current = i == latest
			}
			a.out.Result(v)
			n++
		}
		return nil
	})
	if err != nil {
		return err
	}
	if paths == 0 && named {
		return usagef("list everything with: grsync ls", "nothing in the catalogue matches the given paths")
	}
	a.out.Summary(lsVersionsSummary{Command: "ls", Target: s.target.Location, Paths: paths, Versions: n})
	return nil
}

// lsVersion is one version of a file (JSON "ls_version").
type lsVersion struct {
	ui.Path
	Time             time.Time  `json:"time"` // when it was recorded: what restore --at compares
	Size             int64      `json:"size"`
	Kind             string     `json:"kind,omitempty"` // file, folder, symlink
	State            string     `json:"state"`          // live, deleted, forgotten
	Current          bool       `json:"current"`        // the latest version, what restore picks without --at
	ChangedWhileRead bool       `json:"changed_while_read"`
	Forgotten        *time.Time `json:"forgotten,omitempty"`
	ContentStored    bool       `json:"content_stored"` // false once prune deleted what it used
}

func (lsVersion) MessageType() string { return "ls_version" }

func (v lsVersion) WriteText(w io.Writer) {
	state := v.State
	var notes []string
	if v.Current {
		notes = append(notes, "current")
	}
	if v.Kind != "" && v.Kind != "file" {
		notes = append(notes, v.Kind)
	}
	if v.ChangedWhileRead {
		notes = append(notes, "changed-while-read")
	}
	if v.State == "deleted" && v.Forgotten != nil {
		notes = append(notes, "forgotten")
	}
	if v.State == "forgotten" && !v.ContentStored {
		notes = append(notes, "content deleted")
	}
	if len(notes) > 0 {
		state += " (" + strings.Join(notes, ", ") + ")"
	}
	size := ui.Bytes(v.Size)
	if v.State == "deleted" {
		size = "-"
	}
	fmt.Fprintf(w, "  %-19s  %10s  %s\n", v.Time.Local().Format(time.DateTime), size, state)
}

// lsVersionsSummary ends ls --versions (JSON "summary").
type lsVersionsSummary struct {
	Command  string `json:"command"` // "ls"
	Target   string `json:"target"`
	Paths    int    `json:"files"`
	Versions int    `json:"versions"`
}

func (lsVersionsSummary) MessageType() string { return "summary" }
func (s lsVersionsSummary) WriteText(w io.Writer) {
	fmt.Fprintf(w, "%s of %s in %s\n", ui.Count(s.Versions, "version"), ui.Count(s.Paths, "file"), s.Target)
}

// lsFile is one row of ls (JSON "ls_file").
type lsFile struct {
	ui.Path
	Kind string `json:"kind"` // file, folder or symlink
	linkJSON
	Size             int64     `json:"size"`
	Versions         int       `json:"versions"`
	LastBackup       time.Time `json:"last_backup"`
	StoredSize       int64     `json:"stored_size"`
	Deleted          bool      `json:"deleted"`
	ChangedWhileRead bool      `json:"changed_while_read"` // the latest version was stored as read
}

func (lsFile) MessageType() string { return "ls_file" }

// WriteText writes the row in fixed columns, the path last: a path of any
// length or width (wide characters) never shifts another column.
func (f lsFile) WriteText(w io.Writer) {
	p := strconv.Quote(f.Path.Path)
	size := ui.Bytes(f.Size)
	switch f.Kind {
	case "folder":
		p += " (folder)"
		size = "-"
	case "symlink":
		p += " -> " + strconv.Quote(f.Link)
	}
	if f.ChangedWhileRead {
		p += " (changed while read)"
	}
	if f.Deleted {
		p += " (deleted)"
	}
	fmt.Fprintf(w, "%10s  %8d  %-19s  %10s  %s\n", size, f.Versions,
		f.LastBackup.Local().Format(time.DateTime), ui.Bytes(f.StoredSize), p)
}

// lsSummary ends ls (JSON "summary").
type lsSummary struct {
	Command  string `json:"command"` // "ls"
	Target   string `json:"target"`
	Files    int    `json:"files"`
	Folders  int    `json:"folders"`
	Symlinks int    `json:"symlinks"`
}

func (lsSummary) MessageType() string { return "summary" }
func (s lsSummary) WriteText(w io.Writer) {
	what := ui.Count(s.Files, "file")
	if s.Folders > 0 {
		what += ", " + ui.Count(s.Folders, "folder")
	}
	if s.Symlinks > 0 {
		what += ", " + ui.Count(s.Symlinks, "symlink")
	}
	fmt.Fprintf(w, "%s in %s\n", what, s.Target)
}
