package mx

import (
	"github.com/authsmtp/authsmtp/smtp/milters"
)

// runMilters passes the message through the configured milters (see
// package milters); a milter that is down or too slow gets the
// configured default.
func (s *session) runMilters(msg []byte) milters.Result {
	rcpts := make([]string, 0, len(s.d.Recipients()))
	for _, rc := range s.d.Recipients() {
		rcpts = append(rcpts, rc.Address)
	}
	chain := milters.Chain{Milters: s.s.cfg.Milters, Timeout: s.s.cfg.MilterTimeout,
		DefaultAccept: s.s.cfg.MilterDefaultAccept, Hostname: s.s.cfg.Hostname, Daemon: "authsmtp"}
	return chain.Run(milters.Envelope{ClientHost: s.c.Hostname(), ClientIP: s.ip, Helo: s.c.Hostname(),
		From: s.from, Rcpts: rcpts, QueueID: s.cid}, msg, s.log.With("stage", "mx milter"))
}
