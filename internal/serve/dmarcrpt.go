package serve

import (
	"context"

	"github.com/authsmtp/authsmtp/smtp/dkim"
	"github.com/authsmtp/authsmtp/smtp/dmarcrpt"
	"github.com/authsmtp/authsmtp/store"
)

// startDMARCReports makes the DMARC aggregate reporter when
// --dmarc-reports-from is set (never in capture/demo mode: a demo host
// sends nothing to the internet) and runs its daily timer. It returns
// the function the MX hands evaluations to (nil: reporting is off).
func (srv *server) startDMARCReports() (func(store.DMARCEval), error) {
	cfg := srv.cfg
	if cfg.DMARCReportsFrom == "" || cfg.Capture || cfg.Demo {
		return nil, nil
	}
	res, err := srv.newResolver()
	if err != nil {
		return nil, err
	}
	rep, err := dmarcrpt.New(dmarcrpt.Config{Store: srv.st, Resolver: res, Signer: dkim.New(srv.st),
		From: cfg.DMARCReportsFrom, Hostname: cfg.Hostname, Logger: srv.log})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		rep.Run(ctx)
	}()
	srv.onStop("dmarc reports", func(stop context.Context) error {
		cancel()
		select {
		case <-done:
			return nil
		case <-stop.Done():
			return stop.Err()
		}
	})
	return rep.Record, nil
}
