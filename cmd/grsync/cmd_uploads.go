package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/grsync/grsync/internal/engine"
	"github.com/grsync/grsync/internal/store"
	"github.com/grsync/grsync/internal/ui"
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
	s, err := a.openSessionFor(writeStore)
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
	sum := uploadsSummary{Command: "uploads", Target: s.target.Location, Uploads: len(ups), Abort: abort}
	if !a.out.JSON() {
		fmt.Fprintf(a.stdout, "%s in %s\n", ui.Count(len(ups), "unfinished upload"), s.target.Location)
	}
	for _, u := range ups {
		m := uploadJSON{ID: u.ID, Created: u.Created}
		if p, ok := interrupted[u.ID]; ok {
			path := ui.NewPath(p)
			m.Interrupted = &path
		}
		if abort {
			err := s.store.AbortUpload(ctx, u.ID)
			switch {
			case errors.Is(err, store.ErrNotFound):
				m.Gone = true // finished or aborted since it was listed
				sum.Gone++
			case err != nil:
				a.log.Error("abort failed", "upload", u.ID, "err", err)
				sum.Failed++
				m.Error = err.Error()
			default:
				m.Aborted = true
				sum.Aborted++
			}
		}
		a.out.Result(m)
	}
	a.out.Summary(sum)
	if sum.Failed > 0 {
		a.exitCode = exitPartial
	}
	return nil
}

// uploadJSON is one unfinished upload (JSON "upload").
type uploadJSON struct {
	ID          string    `json:"id"`
	Created     time.Time `json:"created"`
	Interrupted *ui.Path  `json:"interrupted,omitempty"` // what an interrupted sync of this catalogue was storing; the next sync aborts it
	Aborted     bool      `json:"aborted"`
	Gone        bool      `json:"gone,omitempty"` // no longer in the store when aborted: nothing to abort
	Error       string    `json:"error,omitempty"`
}

func (uploadJSON) MessageType() string { return "upload" }
func (u uploadJSON) WriteText(w io.Writer) {
	fmt.Fprintf(w, "  %s  started %s\n", ui.Name(u.ID), u.Created.Local().Format(time.DateTime))
	switch {
	case u.Aborted:
		fmt.Fprintf(w, "    aborted\n")
	case u.Gone:
		fmt.Fprintf(w, "    no longer in the store (finished or aborted meanwhile); nothing to abort\n")
	case u.Interrupted != nil && u.Error == "":
		fmt.Fprintf(w, "    left by an interrupted sync (%s); the next sync aborts it and stores what it held again\n", strconv.Quote(u.Interrupted.Path))
	}
}

// uploadsSummary ends uploads list|abort (JSON "summary").
type uploadsSummary struct {
	Command string `json:"command"` // "uploads"
	Target  string `json:"target"`
	Uploads int    `json:"uploads"`
	Abort   bool   `json:"abort"`
	Aborted int    `json:"aborted"`
	Gone    int    `json:"gone"` // no longer in the store when aborted
	Failed  int    `json:"failed"`
}

func (uploadsSummary) MessageType() string { return "summary" }
func (s uploadsSummary) WriteText(w io.Writer) {
	if s.Abort && s.Uploads > 0 {
		fmt.Fprintf(w, "aborted %s", ui.Count(s.Aborted, "upload"))
		if s.Gone > 0 {
			fmt.Fprintf(w, "; %d no longer in the store", s.Gone)
		}
		if s.Failed > 0 {
			fmt.Fprintf(w, "; %d could not be aborted", s.Failed)
		}
		fmt.Fprintln(w)
	}
}
