package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/grsync/grsync/internal/ui"
)

func (a *app) lsCommand() *cobra.Command {
	var deleted bool
	cmd := &cobra.Command{
		Use:   "ls [flags] [PATH-or-PREFIX...]",
		Short: "List backed-up files from the catalogue",
		Long: `List the files the catalogue records for the target: path, size, number of
versions, time of the last backup, stored size. Files deleted from the source are
shown only with --deleted. Reads the catalogue only; nothing is fetched.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			prefixes, err := absPaths(args)
			if err != nil {
				return err
			}
			s, err := a.openSession(true)
			if err != nil {
				return err
			}
			defer s.Close()
			sums, err := s.cat.Summaries(s.target.ID, prefixes)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "PATH\tSIZE\tVERSIONS\tLAST BACKUP\tSTORED\tTARGET\n")
			n := 0
			for _, f := range sums {
				if f.Deleted && !deleted {
					continue
				}
				p := f.Path
				if f.Deleted {
					p += " (deleted)"
				}
				fmt.Fprintf(tw, "%q\t%s\t%d\t%s\t%s\t%s\n", p, ui.Bytes(f.Size), f.Versions,
					f.LastBackup.Local().Format(time.DateTime), ui.Bytes(f.StoredSize), s.target.Location)
				n++
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if n == 0 && len(args) > 0 {
				return usagef("list everything with: grsync ls", "nothing in the catalogue matches the given paths")
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&deleted, "deleted", false, "also list files deleted from the source")
	return cmd
}
