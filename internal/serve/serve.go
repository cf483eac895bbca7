// Package serve is `authsmtp serve`: it builds the store, the
// certificate source and every service (submission, MX, queue, IMAP, web,
// metrics) from the configuration, wires them together, answers the
// control socket by running internal/cli's commands, and stops them all
// gracefully on SIGTERM. It owns the server's lifecycle and the demo
// set-up; the protocols live in their own packages.
//
// It may import internal/cli, internal/config, internal/dnsrecords,
// internal/metrics and the protocol and store packages; nothing imports it
// but main.
package serve

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/authsmtp/authsmtp/acme"
	"github.com/authsmtp/authsmtp/internal/config"
	"github.com/authsmtp/authsmtp/internal/listen"
	"github.com/authsmtp/authsmtp/internal/metrics"
	"github.com/authsmtp/authsmtp/smtp"
	"github.com/authsmtp/authsmtp/smtp/dnsx"
	"github.com/authsmtp/authsmtp/smtp/mx"
	"github.com/authsmtp/authsmtp/smtp/smtpd"
	"github.com/authsmtp/authsmtp/smtp/tlsrpt"
	"github.com/authsmtp/authsmtp/store"
	"github.com/authsmtp/authsmtp/store/junk"
)

// Main runs `authsmtp serve` with the arguments after "serve" and returns
// the exit status. version is the build's version, for /metrics.
func Main(args []string, stdout, stderr io.Writer, version string) int {
	cfg := config.Default()
	pos, err := cfg.Parse("serve", args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stdout, "usage: authsmtp serve [flags]   (each flag can also be set as AUTHSMTP_<FLAG>, e.g. AUTHSMTP_DATA)")
			def := config.Default()
			fs := def.FlagSet("serve")
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return 0
		}
		fmt.Fprintf(stderr, "authsmtp serve: %v\n", err)
		return 2
	}
	if len(pos) > 0 {
		fmt.Fprintf(stderr, "authsmtp serve: unexpected argument %q\n", pos[0])
		return 2
	}
	if err := serve(cfg, stdout, version); err != nil {
		fmt.Fprintf(stderr, "authsmtp serve: %v\n", err)
		return 1
	}
	return 0
}

// server is the running program: the store, the certificate source and
// every service, built here and passed down (no package globals).
type server struct {
	cfg config.Config
	st  *store.Store
	log *slog.Logger
	tls *acme.Manager
	out io.Writer
	// version is the build's version (main's, set at link time).
	version string

	// tlsTune, when set (tests), adjusts the certificate source's config.
	tlsTune func(*acme.Config)

	// pipeline is the one submission pipeline (SMTP and webmail), built
	// by start before the services.
	pipeline *smtp.Pipeline
	// inflight bounds the message bytes held by submission and the MX
	// together (--max-inflight), made by inFlight.
	inflight *smtpd.Budget

	// resolver is the one DNS resolver (--dns), made by newResolver.
	resolver *dnsx.Resolver
	// tlsReports counts outbound TLS results and sends the daily TLS
	// reports (nil in capture/demo mode), made by startQueue.
	tlsReports *tlsrpt.Reporter
	// mx is the MX once started (nil: off or not yet), for the admin
	// panel's DNS list status; guarded by mu.
	mx *mx.Server

	mu       sync.Mutex
	stoppers []stopper // in start order; stopped in reverse

	// metrics is built in serve and passed to every service (nil-safe).
	metrics *metrics.Metrics
	// addrs are the addresses the listeners really got, by service name
	// (":0" in tests becomes a port): autoconfig advertises these.
	addrs map[string]string

	// ids is the process's one connection counter: a cid names one
	// connection whatever the service.
	ids listen.IDs
	// health knows which listeners stopped (/healthz).
	health listen.Health
}

// stopper is a started service: Stop lets it finish within ctx.
type stopper struct {
	name string
	stop func(ctx context.Context) error
}

// onStop registers a service's shutdown.
func (srv *server) onStop(name string, fn func(ctx context.Context) error) {
	srv.mu.Lock()
	srv.stoppers = append(srv.stoppers, stopper{name, fn})
	srv.mu.Unlock()
}

// listen opens a TCP listener and explains the usual failures.
func (srv *server) listen(name, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err == nil {
		srv.log.Info("listening", "service", name, "addr", ln.Addr().String())
		if srv.tls != nil {
			srv.tls.Listening(name, ln.Addr()) // ACME answers challenges on http/https
		}
		srv.mu.Lock()
		if srv.addrs == nil {
			srv.addrs = map[string]string{}
		}
		srv.addrs[name] = ln.Addr().String()
		srv.mu.Unlock()
		return ln, nil
	}
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return nil, fmt.Errorf("%s: %s is already in use by another program: stop it, or choose another address with --%s", name, addr, name)
	case errors.Is(err, syscall.EACCES):
		return nil, fmt.Errorf("%s: no permission to listen on %s: ports below 1024 need root or CAP_NET_BIND_SERVICE; or use a high port with --%s", name, addr, name)
	}
	return nil, fmt.Errorf("%s: listening on %s: %w", name, addr, err)
}

// listener is one address of a service and the function serving it.
type listener struct {
	name, addr string
	serve      func(ln net.Listener) error
}

// serveListeners opens each configured address ("" is off) and serves it
// in the background; a listener that stops with an error is logged.
func (srv *server) serveListeners(service string, ls []listener) error {
	for _, l := range ls {
		if l.addr == "" {
			continue
		}
		ln, err := srv.listen(l.name, l.addr)
		if err != nil {
			return err
		}
		go func() {
			if err := l.serve(ln); err != nil {
				srv.log.Error(service+" listener stopped", "service", l.name, "err", err)
				srv.health.Stopped(l.name, err)
			}
		}()
	}
	return nil
}

// guard wraps a listener the services do not wrap themselves (HTTPS,
// HTTP, metrics, the control socket) in the shared limits: accept retried
// with backoff when out of descriptors, the per-IP cap (limit nil: none),
// connection ids, and health for /healthz.
func (srv *server) guard(ln net.Listener, name string, limit *listen.PerIP) *listen.Listener {
	return listen.New(ln, listen.Options{Name: name, Limit: limit, IDs: &srv.ids, Health: &srv.health,
		Logger: srv.log.With("service", name)})
}

func newLogger(cfg config.Config, w io.Writer) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		return nil, fmt.Errorf("--log-level %q: use debug, info, warn or error", cfg.LogLevel)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch cfg.LogFormat {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: use text or json", cfg.LogFormat)
}

func serve(cfg config.Config, out io.Writer, version string) error {
	if cfg.Demo {
		demoDefaults(&cfg)
	}
	if cfg.Hostname == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			h = "localhost"
		}
		cfg.Hostname = h
	}
	logger, err := newLogger(cfg, os.Stderr)
	if err != nil {
		return err
	}
	slog.SetDefault(logger)
	setMemoryLimit(cfg, logger)

	if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
		return fmt.Errorf("data directory %s: %w (choose one with --data)", cfg.Data, err)
	}
	st, err := store.OpenBackend(cfg.Store, cfg.Data, store.Options{Logger: logger.With("service", "store"),
		BodySegments: cfg.BodySegments,
		Junk:         junk.Config{MinTrained: cfg.JunkMinTrained, Threshold: cfg.JunkThreshold}})
	if err != nil {
		return err
	}
	defer st.Close()
	if cfg.Demo {
		if err := checkDemoDir(st, cfg.Data); err != nil {
			return err
		}
	}
	st.Caps.SetDefaults(store.SendLimits{PerHour: cfg.SendPerHour, PerDay: cfg.SendPerDay, RcptsPerDay: cfg.RcptsPerDay})
	st.SetDefaultQuota(cfg.DefaultQuota)

	srv := &server{cfg: cfg, st: st, log: logger, out: out, version: version}
	srv.metrics = srv.newMetrics()
	return srv.run()
}

// start brings every service up; on error the caller stops those started.
func (srv *server) start(ctx context.Context) error {
	cfg := srv.cfg
	var err error
	srv.tls, err = acme.New(srv.tlsConfig(), srv.st)
	if err != nil {
		return err
	}
	srv.onStop("tls", func(context.Context) error { srv.tls.Stop(); return nil })
	if err := srv.startControl(); err != nil {
		return err
	}
	if cfg.Demo {
		if err := srv.setupDemo(); err != nil {
			return err
		}
	}
	if srv.pipeline, err = srv.newPipeline(); err != nil {
		return err
	}
	for _, step := range []struct {
		name string
		fn   func(context.Context) error
	}{
		{"smtp", srv.startSMTP},
		{"imap", srv.startIMAP},
		{"web", srv.startWeb},
		{"queue", srv.startQueue},
		{"mx", srv.startMX},
		{"metrics", srv.startMetrics},
	} {
		if err := step.fn(ctx); err != nil {
			return err
		}
	}
	// Certificates are ordered only now: the challenge listeners are ours.
	if err := srv.tls.Start(ctx); err != nil {
		return err
	}
	srv.log.Debug("start-up pages of the binary dropped from the resident set", "mib", dropExecutablePages()>>20)
	srv.log.Info("authsmtp is running", "hostname", cfg.Hostname, "data", cfg.Data)
	return nil
}

// drainTimeout bounds how long a listener's Close waits.
const drainTimeout = 5 * time.Second
