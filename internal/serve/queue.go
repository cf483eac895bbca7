package serve

import (
	"context"
	"fmt"
	"strings"

	"github.com/authsmtp/authsmtp/smtp/dkim"
	"github.com/authsmtp/authsmtp/smtp/dnsx"
	"github.com/authsmtp/authsmtp/smtp/queue"
	"github.com/authsmtp/authsmtp/smtp/tlsrpt"
	"github.com/authsmtp/authsmtp/store"
)

// newResolver returns the resolver every lookup goes through (--dns),
// made once so the queue, the MX and the web DNS check share it and its
// answer cache.
func (srv *server) newResolver() (*dnsx.Resolver, error) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.resolver == nil {
		r, err := dnsx.New(srv.cfg.DNS)
		if err != nil {
			return nil, err
		}
		r.DNSSEC = srv.cfg.DNSSEC
		srv.resolver = r
	}
	return srv.resolver, nil
}

// deliveryPort is the MX port outbound delivery connects to: 25, or
// --test-delivery-port (AUTHSMTP_TEST_DELIVERY_PORT) so tests can run
// several instances on loopback without root.
func deliveryPort(test int) (int, error) {
	switch {
	case test == 0:
		return 25, nil
	case test < 0 || test > 65535:
		return 0, fmt.Errorf("--test-delivery-port %d: not a port", test)
	}
	return test, nil
}

// startQueue starts the outbound delivery workers. In capture (demo) mode
// they never connect out; they only file captured copies for user logins.
func (srv *server) startQueue(ctx context.Context) error {
	cfg := srv.cfg
	res, err := srv.newResolver()
	if err != nil {
		return err
	}
	sched, err := queue.ParseSchedule(cfg.RetrySchedule)
	if err != nil {
		return err
	}
	port, err := deliveryPort(cfg.TestDeliveryPort)
	if err != nil {
		return err
	}
	qc := queue.Config{
		Store: srv.st, Resolver: res, Hostname: cfg.Hostname, Workers: cfg.Workers,
		Schedule: sched, MaxAge: cfg.QueueMaxAge, Port: port,
		Relay: cfg.Relay, RelayUser: cfg.RelayUser, RelayPassword: cfg.RelayPassword,
		NoDelivery: cfg.Capture, Logger: srv.log, Metrics: srv.metrics,
		Node: queueNode(srv.st.Shared(), cfg.Hostname), Lease: cfg.QueueLease,
		DANERequired: splitList(cfg.DANERequired),
	}
	if srv.st.Shared() {
		qc.PollEvery = cfg.QueueLease
	}
	if !cfg.Capture && cfg.Relay == "" {
		// TLS reports are about our own connections to MX hosts: none in
		// capture/demo mode, none through a smarthost.
		rep, err := tlsrpt.New(tlsrpt.Config{Store: srv.st, Resolver: res, Signer: dkim.New(srv.st), Hostname: cfg.Hostname, Logger: srv.log})
		if err != nil {
			return err
		}
		qc.TLSResults = rep.Record
		srv.mu.Lock()
		srv.tlsReports = rep
		srv.mu.Unlock()
		rctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			rep.Run(rctx)
		}()
		// Registered before the queue, so stopped after it: the queue's
		// last results are counted, then saved.
		srv.onStop("tls reports", func(ctx context.Context) error {
			cancel()
			select {
			case <-done:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}
	r, err := queue.New(qc)
	if err != nil {
		return err
	}
	r.Start()
	srv.onStop("queue", r.Stop)
	return nil
}

// FlushTLSResults saves the TLS results counted so far, for `authsmtp tls
// report-send`; it makes *server a cli.Live.
func (srv *server) FlushTLSResults() (bool, error) {
	srv.mu.Lock()
	rep := srv.tlsReports
	srv.mu.Unlock()
	if rep == nil {
		return false, nil
	}
	return true, rep.Flush()
}

// queueNode names this process in queue leases. Alone on its database it
// is always "local", so a restart takes its unfinished deliveries back at
// once; on a shared database every process gets a name of its own (its
// --hostname and a random part), and another node takes over what it held
// after --queue-lease.
func queueNode(shared bool, hostname string) string {
	if !shared {
		return "local"
	}
	return hostname + "-" + store.RandomToken(4)
}

// splitList reads a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, strings.ToLower(v))
		}
	}
	return out
}
