package main

import (
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/grsync/grsync/internal/catalog"
	"github.com/grsync/grsync/internal/engine"
	"github.com/grsync/grsync/internal/ui"
)

func (a *app) lsCommand() *cobra.Command {
	var deleted, folders bool
	cmd := &cobra.Command{
		Use:   "ls [flags] [PATH-or-PREFIX...]",
		Short: "List backed-up files from the catalogue",
		Long: `List the files and symlinks the catalogue records for the target (and with
--folders its folders, marked "(folder)"): size, number of versions, time of the
last backup, stored size, and the path, last, so that a long path never pushes
the other columns. A symlink shows its target after "->"; a file stored while it
was changing (--changing-files=store) is marked "(changed while read)". Files deleted from the source are shown only with
--deleted. Reads the catalogue only; nothing is fetched. Paths are printed
quoted, with any control character escaped; --json gives them as they are.`,
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
	return cmd
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
