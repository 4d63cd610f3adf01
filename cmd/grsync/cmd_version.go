package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

func (a *app) versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print grsync's version, commit, and Go and zstd versions",
		Long: `Print grsync's version (the module version it was built as, "(devel)" for a
build from a source tree), the commit and its time when the build recorded them,
and the versions of Go and of the zstd, age and SQLite libraries built in.`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error { return a.printVersion() },
	}
}

// versionInfo is what `grsync version` prints (message "version").
type versionInfo struct {
	Version    string `json:"version"`
	Commit     string `json:"commit"`      // "unknown" when the build did not record it
	CommitTime string `json:"commit_time"` // RFC 3339, or ""
	Modified   bool   `json:"modified"`    // built from a tree with uncommitted changes
	Go         string `json:"go"`
	Platform   string `json:"platform"`
	Zstd       string `json:"zstd"` // github.com/klauspost/compress version
	Age        string `json:"age"`
	SQLite     string `json:"sqlite"` // modernc.org/sqlite version
}

func (versionInfo) MessageType() string { return "version" }

func (v versionInfo) WriteText(w io.Writer) {
	fmt.Fprintf(w, "grsync %s\n", v.Version)
	commit := v.Commit
	if v.CommitTime != "" {
		commit += " (" + v.CommitTime + ")"
	}
	if v.Modified {
		commit += ", with uncommitted changes"
	}
	fmt.Fprintf(w, "  commit  %s\n  go      %s %s\n  zstd    github.com/klauspost/compress %s\n  age     filippo.io/age %s\n  sqlite  modernc.org/sqlite %s\n",
		commit, v.Go, v.Platform, v.Zstd, v.Age, v.SQLite)
}

// buildVersion reads the build information the Go toolchain embeds. Parts
// may be missing (a test binary, -buildvcs=false, a stripped build): they
// read "unknown".
func buildVersion() versionInfo {
	v := versionInfo{Version: "unknown", Commit: "unknown", Go: runtime.Version(),
		Platform: runtime.GOOS + "/" + runtime.GOARCH, Zstd: "unknown", Age: "unknown", SQLite: "unknown"}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	if bi.Main.Version != "" {
		v.Version = bi.Main.Version
	}
	if bi.GoVersion != "" {
		v.Go = bi.GoVersion
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Commit = s.Value
		case "vcs.time":
			v.CommitTime = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	for _, d := range bi.Deps {
		if d.Replace != nil {
			d = d.Replace
		}
		switch d.Path {
		case "github.com/klauspost/compress":
			v.Zstd = d.Version
		case "filippo.io/age":
			v.Age = d.Version
		case "modernc.org/sqlite":
			v.SQLite = d.Version
		}
	}
	return v
}

func (a *app) printVersion() error {
	a.out.Result(buildVersion())
	return nil
}
