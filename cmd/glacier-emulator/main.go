// Command glacier-emulator serves an emulation of the Amazon S3 Glacier vault
// API on a local address, for testing grsync (or any Glacier client) without
// AWS. It enforces the API's rules (tree hashes, part sizes and alignment,
// description limits, job completion and expiry) with AWS's error codes, and
// can inject faults. See package internal/glacieremu for the details and the
// known differences from AWS.
//
// Usage:
//
//	glacier-emulator [flags]
//
// It prints its base URL on the first line of standard output, logs to
// standard error, and runs until interrupted (SIGINT or SIGTERM). Point a
// client at the URL with any access key and secret, for example:
//
//	glacier-emulator -listen 127.0.0.1:9000 -delay-standard 5s &
//	AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x \
//	  aws glacier list-vaults --account-id - --endpoint-url http://127.0.0.1:9000
//
// Flags:
//
//	-listen addr          address to serve on (default 127.0.0.1:0, a free port)
//	-allow-remote         allow a non-loopback listen address (the emulator
//	                      checks no signatures: anyone who can reach it can use it)
//	-dir path             keep archive data in files under path (default: memory)
//	-delay-expedited d    time for Expedited retrievals to complete (default 10ms)
//	-delay-standard d     time for Standard retrievals (default 50ms)
//	-delay-bulk d         time for Bulk retrievals (default 100ms)
//	-delay-inventory d    time for inventory retrievals (default 50ms)
//	-fault-rate p         probability of a 500 ServiceUnavailableException per request
//	-throttle-rate p      probability of a 400 ThrottlingException per request
//	-drop-rate p          probability of closing the connection mid-body
//	-latency d            delay added to every request
//	-seed n               seed for fault injection (default 1)
//	-max-parts n          most parts per multipart upload (default 10000)
//	-min-part-size n      smallest part size in bytes, a power of two (default 1048576)
//	-account id           account id in ARNs (default 123456789012)
//	-region name          region in ARNs (default us-east-1)
//	-no-tags              answer the vault tag operations as a service without
//	                      them (404 with an HTML page, as moto does)
//	-log-level level      debug, info, warn or error (default info)
//
// Durations use Go syntax: 500ms, 4h, 1h30m. A delay of 0 means the default;
// use 1ns to make jobs complete at once.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/grsync/grsync/internal/glacieremu"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errUsage):
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "glacier-emulator:", err)
		os.Exit(1)
	}
}

// errUsage marks command-line mistakes, already reported by the flag set.
var errUsage = errors.New("usage error")

// options are the command-line settings.
type options struct {
	listen      string
	allowRemote bool
	logLevel    string
	seed        uint64
	fault       glacieremu.Fault
	cfg         glacieremu.Config
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	def := glacieremu.DefaultDelays()
	fs := flag.NewFlagSet("glacier-emulator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.listen, "listen", "127.0.0.1:0", "address to serve on")
	fs.BoolVar(&o.allowRemote, "allow-remote", false, "allow a non-loopback listen address")
	fs.StringVar(&o.cfg.Dir, "dir", "", "keep archive data in files under this directory")
	fs.DurationVar(&o.cfg.Delays.Expedited, "delay-expedited", def.Expedited, "time for Expedited retrievals to complete")
	fs.DurationVar(&o.cfg.Delays.Standard, "delay-standard", def.Standard, "time for Standard retrievals to complete")
	fs.DurationVar(&o.cfg.Delays.Bulk, "delay-bulk", def.Bulk, "time for Bulk retrievals to complete")
	fs.DurationVar(&o.cfg.Delays.Inventory, "delay-inventory", def.Inventory, "time for inventory retrievals to complete")
	fs.Float64Var(&o.fault.ErrorRate, "fault-rate", 0, "probability of a 500 ServiceUnavailableException")
	fs.Float64Var(&o.fault.ThrottleRate, "throttle-rate", 0, "probability of a 400 ThrottlingException")
	fs.Float64Var(&o.fault.DropRate, "drop-rate", 0, "probability of dropping the connection mid-body")
	fs.DurationVar(&o.fault.Latency, "latency", 0, "delay added to every request")
	fs.Uint64Var(&o.seed, "seed", 1, "seed for fault injection")
	fs.IntVar(&o.cfg.MaxPartCount, "max-parts", glacieremu.DefaultMaxPartCount, "most parts per multipart upload")
	fs.Int64Var(&o.cfg.MinPartSize, "min-part-size", glacieremu.DefaultMinPartSize, "smallest part size in bytes (a power of two)")
	fs.StringVar(&o.cfg.AccountID, "account", glacieremu.DefaultAccountID, "account id in ARNs")
	fs.StringVar(&o.cfg.Region, "region", glacieremu.DefaultRegion, "region in ARNs")
	fs.BoolVar(&o.cfg.NoTags, "no-tags", false, "answer the vault tag operations as a service without them (404, as moto)")
	fs.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "glacier-emulator: unexpected argument %q\n", fs.Arg(0))
		return nil, errUsage
	}
	for name, p := range map[string]float64{"fault-rate": o.fault.ErrorRate, "throttle-rate": o.fault.ThrottleRate, "drop-rate": o.fault.DropRate} {
		if p < 0 || p > 1 {
			fmt.Fprintf(stderr, "glacier-emulator: -%s %v is not a probability between 0 and 1\n", name, p)
			return nil, errUsage
		}
	}
	o.cfg.Seed = o.seed
	return o, nil
}

// isLoopback reports whether a listen address only accepts local clients.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return fmt.Errorf("invalid -log-level %q: use debug, info, warn or error", o.logLevel)
	}
	if !isLoopback(o.listen) && !o.allowRemote {
		return fmt.Errorf("refusing to listen on %s, which is not a loopback address: the emulator checks no signatures; pass -allow-remote to do it anyway", o.listen)
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	o.cfg.Logger = logger
	if o.fault != (glacieremu.Fault{}) {
		o.cfg.Faults = map[glacieremu.Op]glacieremu.Fault{glacieremu.AllOps: o.fault}
	}
	srv, err := glacieremu.New(o.cfg)
	if err != nil {
		return fmt.Errorf("configure the emulator: %w", err)
	}
	if err := srv.Start(o.listen); err != nil {
		srv.Close()
		return err
	}
	fmt.Fprintln(stdout, srv.URL())
	logger.Info("glacier emulator serving", "url", srv.URL(), "dir", o.cfg.Dir,
		"expedited", o.cfg.Delays.Expedited, "standard", o.cfg.Delays.Standard, "bulk", o.cfg.Delays.Bulk,
		"fault_rate", o.fault.ErrorRate, "throttle_rate", o.fault.ThrottleRate, "drop_rate", o.fault.DropRate,
		"latency", o.fault.Latency)
	<-ctx.Done()
	logger.Info("glacier emulator stopping")
	start := time.Now()
	if err := srv.Close(); err != nil {
		return err
	}
	logger.Info("glacier emulator stopped", "took", time.Since(start))
	return nil
}
