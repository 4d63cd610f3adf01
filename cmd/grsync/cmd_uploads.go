package main

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	"github.com/grsync/grsync/internal/engine"
)

func (a *app) uploadsCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "uploads list|abort",
		Short: "List or abort unfinished multipart uploads in the target",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List unfinished multipart uploads (they may be billed)",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return a.runUploads(false) },
	}, &cobra.Command{
		Use:   "abort",
		Short: "Abort every unfinished multipart upload",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return a.runUploads(true) },
	})
	return cmd
}

// runUploads lists unfinished uploads, and aborts them when abort is set.
func (a *app) runUploads(abort bool) error {
	s, err := a.openSession(false)
	if err != nil {
		return err
	}
	defer s.Close()
	ctx := context.Background()
	ups, err := s.store.ListUploads(ctx)
	if err != nil {
		return err
	}
	interrupted, err := engine.InterruptedUploads(s.cat, s.target.ID, ups)
	if err != nil {
		return err
	}
	a.printf("%d unfinished uploads in %s\n", len(ups), s.target.Location)
	failed := 0
	for _, u := range ups {
		a.printf("  %s  started %s\n", u.ID, u.Created.Local().Format(time.DateTime))
		if what, ok := interrupted[u.ID]; ok && !abort {
			a.printf("    left by an interrupted sync (%s); the next sync aborts it and stores its files again\n", what)
		}
		if abort {
			if err := s.store.AbortUpload(ctx, u.ID); err != nil {
				a.log.Error("abort failed", "upload", u.ID, "err", err)
				failed++
				continue
			}
			a.printf("    aborted\n")
		}
	}
	if failed > 0 {
		a.exitCode = exitPartial
	}
	return nil
}
