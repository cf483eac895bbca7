package dmarcrpt

import (
	"context"
	"fmt"
	"time"

	"github.com/authsmtp/authsmtp/smtp/reportmail"
	"github.com/authsmtp/authsmtp/store"
	"github.com/authsmtp/authsmtp/store/reports"
)

// message is the report mail (RFC 7489 §7.2.1.1): a short text and the
// gzipped XML as application/gzip named receiver!domain!begin!end.xml.gz,
// DKIM-signed for the reporting address's domain.
func (r *Reporter) message(d store.DMARCDay, rua []string) ([]byte, error) {
	id := d.Day + "." + d.Domain + "." + reportmail.RandomID() + "@" + r.cfg.Hostname
	f, err := Build(d, r.cfg.Hostname, r.cfg.From, id)
	if err != nil {
		return nil, err
	}
	gz, err := reports.GzipDMARC(f)
	if err != nil {
		return nil, err
	}
	msg := reportmail.Build(reportmail.Message{
		From: r.cfg.From, FromName: "DMARC reports", To: rua, Host: r.cfg.Hostname,
		Subject: fmt.Sprintf("Report Domain: %s Submitter: %s Report-ID: <%s>", d.Domain, r.cfg.Hostname, id),
		Type:    "multipart/mixed",
		Text: fmt.Sprintf("This is a DMARC aggregate report (RFC 7489) from %s about mail from %s on %s (UTC): %d messages.",
			r.cfg.Hostname, d.Domain, d.Day, len(d.Evals)),
		Attachment: gz, AttachmentType: "application/gzip",
		AttachmentName: fmt.Sprintf("%s!%s!%d!%d.xml.gz", r.cfg.Hostname, d.Domain, f.Metadata.DateRange.Begin, f.Metadata.DateRange.End),
	}, time.Now())
	return r.cfg.Signer.Sign(msg)
}

// Run sends the reports of past days at start and shortly after each
// UTC midnight (checked hourly), until ctx ends; one node of a cluster
// sends them.
func (r *Reporter) Run(ctx context.Context) {
	reportmail.Daily{Job: "dmarc-reports", What: "DMARC reports", Claim: r.cfg.Store.ClaimDay, Send: r.SendDue, Log: r.log}.Run(ctx)
}
