// Command vmrd is the video conferencing bridge. main only wires: flags,
// logger, signals and the exit code.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"vmrd/internal/config"
	"vmrd/internal/pin"
	"vmrd/internal/service"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `usage:
  vmrd serve --config FILE     run the bridge
  vmrd check-config FILE       validate a configuration and exit (0 valid, 1 invalid, 2 unreadable)
  vmrd hash-pin                read a PIN from standard input, print its hash for host_pin/guest_pin
  vmrd version                 print the version
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return serve(args[1:], stderr)
	case "check-config":
		return checkConfig(args[1:], stdout, stderr)
	case "hash-pin":
		return hashPIN(args[1:], os.Stdin, stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "vmrd", version)
		return 0
	case "help", "--help", "-h":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "vmrd: unknown command %q\n%s", args[0], usage)
		return 2
	}
}

// loadConfig reads and validates a config file; the exit code says which failed.
func loadConfig(path string) (*config.Config, int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, 2, err
	}
	cfg, err := config.Parse(data, path)
	if err != nil {
		return nil, 1, err
	}
	return cfg, 0, nil
}

func checkConfig(args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cfg, code, err := loadConfig(args[0])
	if err != nil {
		fmt.Fprintf(stderr, "vmrd: %v\n", err)
		return code
	}
	for _, w := range cfg.Warnings() {
		fmt.Fprintf(stdout, "%s: warning: %s\n", args[0], w)
	}
	fmt.Fprintf(stdout, "%s: ok (%d rooms)\n", args[0], len(cfg.Rooms))
	return 0
}

// hashPIN reads one PIN from stdin (so it never lands in shell history or
// the process list) and prints the argon2id hash to put in the config.
func hashPIN(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) != 0 {
		fmt.Fprintln(stderr, "vmrd hash-pin takes no arguments: type the PIN on standard input, e.g. vmrd hash-pin <<< 123456")
		return 2
	}
	line, err := bufio.NewReader(io.LimitReader(stdin, 256)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		fmt.Fprintf(stderr, "vmrd hash-pin: %v\n", err)
		return 2
	}
	p, err := pin.Normalize(strings.TrimSpace(line))
	if err != nil {
		fmt.Fprintf(stderr, "vmrd hash-pin: %v\n", err)
		return 1
	}
	h, err := pin.Hash(p)
	if err != nil {
		fmt.Fprintf(stderr, "vmrd hash-pin: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, h)
	return 0
}

func serve(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration file (YAML)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *path == "" {
		fmt.Fprintln(stderr, "vmrd serve: --config FILE is required")
		return 2
	}
	cfg, code, err := loadConfig(*path)
	if err != nil {
		fmt.Fprintf(stderr, "vmrd: %v\n", err)
		return code
	}
	log := newLogger(cfg, stderr)
	for _, w := range cfg.Warnings() {
		log.Warn("config: " + w)
	}
	svc, err := service.New(cfg, log, version)
	if err != nil {
		log.Error("cannot start", "err", err)
		return 1
	}
	// Signals are caught before the listeners open, so that a SIGTERM or
	// SIGHUP the moment /readyz turns 200 is handled, not fatal.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	notify := service.NewNotifier(os.Getenv, log)
	if err := svc.Start(); err != nil {
		log.Error("cannot start", "err", err)
		_ = svc.Close()
		return 1
	}
	notify.Ready()
	notify.Status("serving")
	stopWatchdog := notify.StartWatchdog(svc.Healthy)
	defer stopWatchdog()
	sig := <-sigs
	for sig == syscall.SIGHUP {
		notify.Reloading()
		reload(svc, *path, log)
		notify.Ready()
		sig = <-sigs
	}
	notify.Stopping()
	notify.Status("draining: new calls are refused")
	log.Info("draining: calls in progress go on, new calls are refused", "signal", sig.String(), "deadline", cfg.SIP.DrainTimeout)
	ctx, cancel := context.WithTimeout(context.Background(), cfg.SIP.DrainTimeout)
	go func() {
		for {
			select {
			case sig := <-sigs:
				if sig == syscall.SIGHUP {
					continue // no reloads while stopping
				}
				// A second signal means now: no drain, no goodbyes.
				log.Warn("second signal: exiting at once", "signal", sig.String())
				os.Exit(1)
			case <-ctx.Done():
				return
			}
		}
	}()
	svc.Drain(ctx)
	cancel()
	log.Info("stopping")
	stopWatchdog()
	if err := svc.Close(); err != nil && !errors.Is(err, context.Canceled) {
		log.Warn("stopped with errors", "err", err)
	}
	log.Info("stopped")
	return 0
}

func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.Log.SlogLevel()}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// reload reads the configuration file again and applies it. A file that
// does not load is refused whole, with every problem in the log, and the
// running configuration stays.
func reload(svc *service.Service, path string, log *slog.Logger) {
	log.Info("reloading configuration", "file", path)
	cfg, _, err := loadConfig(path)
	if err != nil {
		log.Error("reload refused; keeping the running configuration", "err", err)
		return
	}
	for _, w := range cfg.Warnings() {
		log.Warn("config: " + w)
	}
	if _, err := svc.Reload(cfg); err != nil {
		log.Error("reload refused; keeping the running configuration", "err", err)
	}
}
