package dmarcrpt

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"mime/multipart"
	"net/textproto"
	"strings"
	"time"

	"github.com/authsmtp/authsmtp/store"
)

// message is the report mail (RFC 7489 §7.2.1.1): a short text and the
// gzipped XML as application/gzip named receiver!domain!begin!end.xml.gz,
// DKIM-signed for the reporting address's domain.
func (r *Reporter) message(d store.DMARCDay, rua []string) ([]byte, error) {
	id := d.Day + "." + d.Domain + "." + randomID() + "@" + r.cfg.Hostname
	f, err := Build(d, r.cfg.Hostname, r.cfg.From, id)
	if err != nil {
		return nil, err
	}
	gz, err := gzipFeedback(f)
	if err != nil {
		return nil, err
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	tp, _ := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"text/plain; charset=utf-8"}})
	fmt.Fprintf(tp, "This is a DMARC aggregate report (RFC 7489) from %s about mail from %s on %s (UTC): %d messages.\r\n",
		r.cfg.Hostname, d.Domain, d.Day, len(d.Evals))
	name := fmt.Sprintf("%s!%s!%d!%d.xml.gz", r.cfg.Hostname, d.Domain, f.Metadata.DateRange.Begin, f.Metadata.DateRange.End)
	ap, _ := mw.CreatePart(textproto.MIMEHeader{
		"Content-Type":              {`application/gzip; name="` + name + `"`},
		"Content-Transfer-Encoding": {"base64"},
		"Content-Disposition":       {`attachment; filename="` + name + `"`},
	})
	enc := base64.StdEncoding.EncodeToString(gz)
	for len(enc) > 76 {
		ap.Write([]byte(enc[:76] + "\r\n"))
		enc = enc[76:]
	}
	ap.Write([]byte(enc + "\r\n"))
	mw.Close()

	var m bytes.Buffer
	hdr := func(k, v string) { m.WriteString(k + ": " + v + "\r\n") }
	hdr("From", "DMARC reports <"+r.cfg.From+">")
	hdr("To", strings.Join(rua, ", "))
	hdr("Subject", fmt.Sprintf("Report Domain: %s Submitter: %s Report-ID: <%s>", d.Domain, r.cfg.Hostname, id))
	hdr("Date", time.Now().UTC().Format(time.RFC1123Z))
	hdr("Message-ID", "<dmarc."+randomID()+"@"+r.cfg.Hostname+">")
	hdr("Auto-Submitted", "auto-generated")
	hdr("MIME-Version", "1.0")
	hdr("Content-Type", `multipart/mixed; boundary="`+mw.Boundary()+`"`)
	m.WriteString("\r\n")
	m.Write(body.Bytes())
	return r.cfg.Signer.Sign(m.Bytes())
}

// Run sends the reports of past days at start and shortly after each
// UTC midnight (checked hourly), until ctx ends.
func (r *Reporter) Run(ctx context.Context) {
	tick := time.NewTicker(time.Hour)
	defer tick.Stop()
	lastSent := ""
	for {
		today := time.Now().UTC().Format(time.DateOnly)
		if today != lastSent {
			lastSent = today
			// Several nodes on one database: one of them sends the day's.
			if mine, err := r.cfg.Store.ClaimDay("dmarc-reports", today); err != nil {
				r.log.Error("claiming the daily DMARC reports", "err", err)
				lastSent = ""
			} else if !mine {
				r.log.Info("another node sends today's DMARC reports")
			} else if n, err := r.SendDue(ctx, time.Now()); err != nil {
				r.log.Error("sending DMARC reports", "err", err)
			} else if n > 0 {
				r.log.Info("DMARC reports queued", "count", n)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
