package cli

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/authsmtp/authsmtp/acme"
	"github.com/authsmtp/authsmtp/smtp/dkim"
	"github.com/authsmtp/authsmtp/smtp/dnsx"
	"github.com/authsmtp/authsmtp/smtp/tlsrpt"
)

// tlsCommands report on certificates.
func tlsCommands() []Command {
	return []Command{
		{Words: "tls status", NArgs: [2]int{0, 0}, Run: cmdTLSStatus},
		{Words: "tls report-send", Usage: "[--today]", NArgs: [2]int{0, 0}, Run: cmdTLSReportSend, Extras: []string{"today"}},
	}
}

// cmdTLSStatus prints each name, where its certificate comes from, the
// issuer, the expiry and the last error. Inside the running server it
// shows what is served now; without one, what the store holds.
func cmdTLSStatus(e *Env) error {
	var sts []acme.CertStatus
	if e.Live != nil {
		sts = e.Live.TLSStatus()
	} else {
		var err error
		if sts, err = acme.ReadStatus(e.St); err != nil {
			return fmt.Errorf("reading certificate status: %w", err)
		}
		fmt.Fprintln(e.Out, "(no server running: showing what the data directory holds)")
	}
	tw := tabwriter.NewWriter(e.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSOURCE\tISSUER\tEXPIRES\tLAST ERROR")
	for _, s := range sts {
		exp := "-"
		if !s.NotAfter.IsZero() {
			exp = s.NotAfter.UTC().Format(time.RFC3339)
		}
		last := "-"
		if s.LastError != "" {
			last = s.LastError
			if !s.ErrorAt.IsZero() {
				last = s.ErrorAt.UTC().Format(time.RFC3339) + " " + last
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.Name, s.Source, s.Issuer, exp, last)
	}
	return tw.Flush()
}

// cmdTLSReportSend queues the TLS reports (RFC 8460) of the days before
// today now, instead of waiting for the daily run; --today sends today's
// results so far too (a test or a first look). Reports go through the
// queue; in capture/demo mode nothing is sent.
func cmdTLSReportSend(e *Env) error {
	if e.Cfg.Capture || e.Cfg.Demo {
		return fmt.Errorf("capture/demo mode: TLS reports are not sent")
	}
	if e.Cfg.Hostname == "" {
		return fmt.Errorf("set --hostname (AUTHSMTP_HOSTNAME): it names the reports' submitter")
	}
	if e.Live != nil {
		if _, err := e.Live.FlushTLSResults(); err != nil {
			return fmt.Errorf("saving the TLS results: %w", err)
		}
	}
	res, err := dnsx.New(e.Cfg.DNS)
	if err != nil {
		return err
	}
	rep, err := tlsrpt.New(tlsrpt.Config{Store: e.St, Resolver: res, Signer: dkim.New(e.St), Hostname: e.Cfg.Hostname})
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
	fmt.Fprintf(e.Out, "%d TLS reports queued\n", n)
	return nil
}
