package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/authsmtp/authsmtp/smtp/dkim"
	"github.com/authsmtp/authsmtp/smtp/dmarcrpt"
	"github.com/authsmtp/authsmtp/smtp/dnsx"
	"github.com/authsmtp/authsmtp/smtp/tlsrpt"
)

// dmarcCommands: the DMARC aggregate reports we send (smtp/dmarcrpt).
// The reports received are shown by `domain reports`.
func dmarcCommands() []Command {
	return []Command{
		{Words: "dmarc report-send", Usage: "[--today]", NArgs: [2]int{0, 0}, Run: cmdDMARCReportSend, Extras: []string{"today"}},
	}
}

// cmdDMARCReportSend queues now the DMARC reports the server sends after
// midnight (UTC): those of past days, with --today also today's so far.
func cmdDMARCReportSend(e *Env) error {
	return sendReportsNow(e, "DMARC", "it names the reporting organisation", func(res *dnsx.Resolver) (dueSender, error) {
		if e.Cfg.DMARCReportsFrom == "" {
			return nil, fmt.Errorf("set --dmarc-reports-from (AUTHSMTP_DMARC_REPORTS_FROM): the address at a hosted domain the reports come from")
		}
		return dmarcrpt.New(dmarcrpt.Config{Store: e.St, Resolver: res, Signer: dkim.New(e.St), From: e.Cfg.DMARCReportsFrom, Hostname: e.Cfg.Hostname})
	})
}

// cmdTLSReportSend queues the TLS reports (RFC 8460) of the days before
// today now, instead of waiting for the daily run; --today sends today's
// results so far too (a test or a first look). Reports go through the
// queue; in capture/demo mode nothing is sent.
func cmdTLSReportSend(e *Env) error {
	return sendReportsNow(e, "TLS", "it names the reports' submitter", func(res *dnsx.Resolver) (dueSender, error) {
		if e.Live != nil {
			if _, err := e.Live.FlushTLSResults(); err != nil {
				return nil, fmt.Errorf("saving the TLS results: %w", err)
			}
		}
		return tlsrpt.New(tlsrpt.Config{Store: e.St, Resolver: res, Signer: dkim.New(e.St), Hostname: e.Cfg.Hostname})
	})
}

// dueSender sends the reports of the days before a time (SendDue).
type dueSender interface {
	SendDue(ctx context.Context, before time.Time) (int, error)
}

// sendReportsNow is what `dmarc report-send` and `tls report-send` share:
// nothing in capture/demo mode, --hostname required (whyHostname says
// what for), then the reporter newReporter makes sends the days before
// today (with --today, today so far too) and the count is printed.
func sendReportsNow(e *Env, what, whyHostname string, newReporter func(*dnsx.Resolver) (dueSender, error)) error {
	if e.Cfg.Capture || e.Cfg.Demo {
		return fmt.Errorf("capture/demo mode: %s reports are not sent", what)
	}
	if e.Cfg.Hostname == "" {
		return fmt.Errorf("set --hostname (AUTHSMTP_HOSTNAME): %s", whyHostname)
	}
	res, err := dnsx.New(e.Cfg.DNS)
	if err != nil {
		return err
	}
	rep, err := newReporter(res)
	if err != nil {
		return err
	}
	before := time.Now()
	if _, ok := e.Flags["today"]; ok {
		before = before.Add(24 * time.Hour)
	}
	n, err := rep.SendDue(context.Background(), before)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.Out, "%d %s reports queued\n", n, what)
	return nil
}
