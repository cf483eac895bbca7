package serve

import (
	"context"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/authsmtp/authsmtp/internal/listen"
	"github.com/authsmtp/authsmtp/internal/metrics"
)

// newMetrics builds the metrics every service reports to; they are served
// on --metrics (off by default).
func (srv *server) newMetrics() *metrics.Metrics {
	return metrics.New(metrics.Config{Store: srv.st, Certs: srv.certsInUse, Version: srv.version})
}

// certsInUse lists the certificates the server holds, by name.
func (srv *server) certsInUse() []metrics.Cert {
	if srv.tls == nil {
		return nil
	}
	var out []metrics.Cert
	for _, c := range srv.tls.Status() {
		if !c.NotAfter.IsZero() {
			out = append(out, metrics.Cert{Name: c.Name, NotAfter: c.NotAfter})
		}
	}
	return out
}

// startMetrics serves /metrics (and with --pprof /debug/pprof/) on --metrics. It has no login: bind it to
// loopback or a private network.
func (srv *server) startMetrics(ctx context.Context) error {
	if srv.cfg.Metrics == "" {
		return nil
	}
	ln, err := srv.listen("metrics", srv.cfg.Metrics)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", srv.metrics.Handler())
	if srv.cfg.Pprof {
		// Profiles of the running server (CPU, heap, allocations) for
		// performance work; registered on this mux only, never on the
		// public HTTPS listener.
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute}
	go hs.Serve(srv.guard(ln, "metrics", listen.NewPerIP(srv.cfg.MaxConnsPerIP)))
	srv.onStop("metrics", hs.Shutdown)
	return nil
}
