package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/authsmtp/authsmtp/smtp/dkim"
	"github.com/authsmtp/authsmtp/smtp/dmarcrpt"
	"github.com/authsmtp/authsmtp/smtp/dnsx"
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
	if e.Cfg.Capture || e.Cfg.Demo {
		return fmt.Errorf("capture/demo mode: DMARC reports are not sent")
	}
	if e.Cfg.DMARCReportsFrom == "" {
		return fmt.Errorf("set --dmarc-reports-from (AUTHSMTP_DMARC_REPORTS_FROM): the address at a hosted domain the reports come from")
	}
	if e.Cfg.Hostname == "" {
		return fmt.Errorf("set --hostname (AUTHSMTP_HOSTNAME): it names the reporting organisation")
	}
	res, err := dnsx.New(e.Cfg.DNS)
	if err != nil {
		return err
	}
	rep, err := dmarcrpt.New(dmarcrpt.Config{Store: e.St, Resolver: res, Signer: dkim.New(e.St), From: e.Cfg.DMARCReportsFrom, Hostname: e.Cfg.Hostname})
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
	fmt.Fprintf(e.Out, "%d DMARC reports queued\n", n)
	return nil
}
