package smtp

import (
	"context"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/authsmtp/authsmtp/smtp/mailmsg"
	"github.com/authsmtp/authsmtp/smtp/milters"
	"github.com/authsmtp/authsmtp/smtp/smtpd"
	"github.com/authsmtp/authsmtp/store"
)

// errDiscarded: a milter said discard; the message was dropped and the
// client is told it was accepted (the milter protocol's meaning).
var errDiscarded = &gosmtp.SMTPError{Code: 250, EnhancedCode: gosmtp.EnhancedCode{2, 0, 0}, Message: "OK"}

// runMilters shows a submitted message to the submission milters
// (--submission-milter): a refusal goes back to the client as the
// milter's reply (or 550/451 5.7.1/4.7.1), header changes replace the
// message's header in place, and a quarantine refuses the message (there
// is no hold queue to keep it in: the sender is told, nothing is sent).
// A discard returns errDiscarded; changed tells whether the header
// changed. The milters see the message as the
// client sent it, before our Received, Message-ID and DKIM fields.
func (sub *Submission) runMilters(ctx context.Context, msg *smtpd.Data) (changed bool, err error) {
	p := sub.p
	t := traceFrom(ctx)
	rcpts := make([]string, 0, len(sub.d.Recipients()))
	for _, r := range sub.d.Recipients() {
		rcpts = append(rcpts, r.Address)
	}
	log := p.Log.With("login", sub.who.Login())
	if t.ID != "" {
		log = log.With("cid", t.ID)
	}
	res := p.Milters.Run(milters.Envelope{ClientHost: t.Helo, ClientIP: t.IP, Helo: t.Helo, From: sub.from,
		Rcpts: rcpts, QueueID: t.ID, AuthLogin: sub.who.Login()}, msg.Bytes(), log)
	switch {
	case res.Reply != nil:
		return false, res.Reply
	case res.Discard:
		return false, errDiscarded
	case res.Quarantine != "":
		log.Info("submission message held by milter: refused", "reason", store.SanitizeLog(res.Quarantine))
		return false, smtpErr(550, gosmtp.EnhancedCode{5, 7, 1}, "message refused by a content filter: %s", milters.CleanText(res.Quarantine))
	case res.Header != nil:
		h, err := mailmsg.Scan(msg.Bytes())
		if err != nil {
			return false, smtpErr(550, gosmtp.EnhancedCode{5, 6, 0}, "malformed message header: %v", err)
		}
		msg.ReplaceHead(h.Body, res.Header)
		return true, nil
	}
	return false, nil
}
