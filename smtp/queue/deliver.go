package queue

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/authsmtp/authsmtp/smtp/dnsx"
	"github.com/authsmtp/authsmtp/smtp/mtasts"
	"github.com/authsmtp/authsmtp/store"
)

// outcome is the result for one recipient of one attempt.
type outcome struct {
	status string // store.RcptSent, store.RcptFailed, or store.RcptPending (temporary)
	reply  string
}

// maxHosts bounds how many MX hosts (and addresses per host) one attempt
// tries.
const (
	maxHosts     = 5
	maxAddrsHost = 2
)

type target struct {
	name        string
	addrs       []string // ip:port
	implicitTLS bool
	relay       bool
	verify      bool // MTA-STS enforce: verified TLS or nothing
	dest        string
	dane        daneState  // DANE applies: mandatory TLS, certificate per TLSA
	sts         *stsPolicy // the MTA-STS policy (testing or enforce) for the host, when DANE does not apply
}

// targets returns where to connect for dest, best first. A permanent
// error (no such domain, null MX) fails the recipients at once.
func (r *Runner) targets(dest string) ([]target, error, bool) {
	if r.cfg.Relay != "" {
		host, port, err := net.SplitHostPort(r.cfg.Relay)
		if err != nil {
			return nil, fmt.Errorf("--relay %q: want host:port", r.cfg.Relay), false
		}
		addrs := []string{r.cfg.Relay}
		if net.ParseIP(host) == nil {
			ips, err := r.cfg.Resolver.LookupHost(r.ctx, host)
			if err != nil {
				return nil, fmt.Errorf("looking up relay %s: %w", host, err), false
			}
			addrs = nil
			for _, ip := range ips {
				addrs = append(addrs, net.JoinHostPort(ip, port))
			}
		}
		return []target{{name: host, addrs: addrs, implicitTLS: port == "465", relay: true}}, nil, false
	}
	hosts, err := r.cfg.Resolver.MailHosts(r.ctx, dest)
	if err != nil {
		perm := errors.Is(err, dnsx.ErrNullMX) || errors.Is(err, dnsx.ErrNoMailDomain)
		return nil, err, perm
	}
	policy := r.stsPolicyFor(r.ctx, dest)
	enforce := policy != nil && policy.Mode == mtasts.ModeEnforce
	mxSecure := r.daneMX(r.ctx, dest)
	var out []target
	var daneErr error
	for _, h := range hosts {
		if len(out) == maxHosts {
			break
		}
		t := target{name: h.Name, dest: dest}
		if mxSecure {
			t.dane = r.daneFor(r.ctx, dest, h.Name)
		}
		switch {
		case t.dane.err != nil:
			daneErr = t.dane.err
			r.log.Info("DANE lookup failed", "dest", dest, "host", h.Name, "err", t.dane.err)
			continue
		case t.dane.applies:
			// DANE wins over MTA-STS for this host (RFC 8461 §2).
		case r.daneRequired(dest):
			daneErr = fmt.Errorf("DANE is required for %s and its MX host %s has no authenticated TLSA records", dest, h.Name)
			r.log.Info("MX host skipped: DANE is required", "dest", dest, "host", h.Name)
			r.reportTLS(store.TLSResult{Domain: dest, PolicyType: "tlsa", PolicyMX: []string{h.Name}, MXHost: h.Name, Result: "dane-required"})
			continue
		case enforce && !policy.matches(h.Name):
			continue
		default:
			t.verify = enforce
			if policy != nil && policy.Mode != mtasts.ModeNone {
				t.sts = policy
			}
		}
		for j, a := range h.Addrs {
			if j == maxAddrsHost {
				break
			}
			t.addrs = append(t.addrs, net.JoinHostPort(a, strconv.Itoa(r.cfg.Port)))
		}
		out = append(out, t)
	}
	if len(out) == 0 {
		if daneErr != nil {
			return nil, daneErr, false
		}
		return nil, fmt.Errorf("the MTA-STS policy of %s allows none of its MX hosts", dest), false
	}
	return out, nil, false
}

// deliver sends items to dest over as few connections as it can and
// records an outcome for every recipient of every item.
func (r *Runner) deliver(j *job) {
	dest, items := j.dest, j.items
	targets, err, perm := r.targets(dest)
	if err != nil {
		st := store.RcptPending
		reply := "451 4.4.3 " + err.Error()
		if perm {
			st, reply = store.RcptFailed, "550 5.1.2 "+err.Error()
		}
		for _, it := range items {
			r.applyAll(it, "", st, reply)
		}
		return
	}
	remaining := items
	lastErr := "no mail host could be reached"
	for _, t := range targets {
		for _, addr := range t.addrs {
			if len(remaining) == 0 || r.ctx.Err() != nil {
				break
			}
			c, err := r.connect(t, addr)
			if err != nil {
				lastErr = fmt.Sprintf("%s [%s]: %v", t.name, addr, err)
				r.log.Info("delivery connection failed", "dest", dest, "host", t.name, "addr", addr, "err", err)
				continue
			}
			remaining = r.sendAll(j, c, t.name, remaining)
			for len(remaining) == 0 {
				// The connection is still good: take what else is due here.
				j.sent += len(items)
				items = r.more(j)
				if len(items) == 0 {
					break
				}
				remaining = r.sendAll(j, c, t.name, items)
			}
			c.quit()
		}
	}
	if r.ctx.Err() != nil {
		return // shutting down: the rest stays due and is tried at the next start
	}
	for _, it := range remaining {
		r.applyAll(it, "", store.RcptPending, "451 4.4.1 "+lastErr)
	}
}

// connect opens one connection, falling back to plain text when a
// STARTTLS handshake fails (opportunistic TLS); the relay never falls back
// when it has a login to send.
func (r *Runner) connect(t target, addr string) (*client, error) {
	var stsTest error // what an MTA-STS policy in testing mode would have refused
	o := dialOpts{helo: r.cfg.Hostname, host: t.name, implicitTLS: t.implicitTLS, startTLS: true, timeout: r.cfg.Timeout}
	if t.relay {
		o.tlsConfig = r.cfg.RelayTLS
		if o.tlsConfig == nil {
			// A relay is verified: we may hand it a password.
			o.tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		}
	}
	switch {
	case t.dane.applies:
		o.tlsConfig = daneTLS(t)
		o.requireTLS = fmt.Sprintf("DANE: %s has TLSA records", t.name)
	case t.verify:
		o.tlsConfig = &tls.Config{ServerName: t.name, RootCAs: r.cfg.RootCAs, MinVersion: tls.VersionTLS12}
		o.requireTLS = "the MTA-STS policy of " + t.dest + " requires TLS"
	case t.sts != nil:
		o.tlsConfig = stsTestingTLS(t, r.cfg.RootCAs, &stsTest)
	}
	c, err := dial(r.ctx, addr, o)
	firstErr := err
	if errors.Is(err, errTLS) && !t.implicitTLS && o.requireTLS == "" && !(t.relay && r.cfg.RelayUser != "") {
		o.startTLS = false
		c, err = dial(r.ctx, addr, o)
	}
	r.sessionResult(t, addr, c, firstErr, stsTest)
	if err != nil {
		return nil, err
	}
	if t.relay && r.cfg.RelayUser != "" {
		if err := c.auth(r.cfg.RelayUser, r.cfg.RelayPassword); err != nil {
			c.quit()
			return nil, err
		}
	}
	return c, nil
}

// sendAll sends items one after the other on c; it returns the items not
// finished when the connection failed.
func (r *Runner) sendAll(j *job, c *client, host string, items []item) []item {
	for i, it := range items {
		q, err := r.st.GetQueue(it.id)
		if err != nil {
			continue // deleted meanwhile
		}
		if q.LeaseOwner != r.cfg.Node {
			// This node stalled past its lease and another took the entry
			// over: it delivers, not us.
			r.log.Info("queue entry taken over by another node", "id", it.id, "owner", q.LeaseOwner)
			continue
		}
		var rcpts []string
		pending := map[string]bool{}
		for _, p := range q.Pending() {
			pending[p] = true
		}
		for _, rc := range it.rcpts {
			if pending[rc] {
				rcpts = append(rcpts, rc)
			}
		}
		if len(rcpts) == 0 {
			continue
		}
		body, err := r.st.Body(q.BodyID)
		if err != nil {
			r.log.Error("reading queued body", "id", it.id, "err", err)
			continue
		}
		res, err := c.send(q.From, rcpts, body)
		if err != nil && res.Data.Code == 0 {
			r.log.Info("delivery connection broke", "id", it.id, "host", host, "err", err)
			return items[i:]
		}
		out := map[string]outcome{}
		for j, rc := range rcpts {
			out[rc] = classify(res, j)
		}
		// Commit the outcome before the next message: the time between
		// the remote 250 and this commit is the only window in which a
		// crash makes a duplicate, so it is kept to one fsync.
		r.apply(it.id, host, out, q)
		if err != nil {
			return items[i+1:]
		}
	}
	return nil
}

// classify turns the replies of one transaction into recipient j's outcome.
func classify(res sendResult, j int) outcome {
	pick := func(rep Reply) outcome {
		switch {
		case rep.OK():
			return outcome{store.RcptSent, rep.String()}
		case rep.Permanent():
			return outcome{store.RcptFailed, rep.String()}
		}
		return outcome{store.RcptPending, rep.String()}
	}
	if !res.Mail.OK() {
		return pick(res.Mail)
	}
	if j >= len(res.Rcpts) {
		return outcome{store.RcptPending, "451 4.4.2 connection lost"}
	}
	if !res.Rcpts[j].OK() {
		return pick(res.Rcpts[j])
	}
	if res.Data.Code == 0 {
		return outcome{store.RcptPending, "451 4.4.2 connection lost before the end of data"}
	}
	if res.Data.Code == 354 {
		return outcome{store.RcptPending, "451 4.4.2 " + res.Data.String()}
	}
	return pick(res.Data)
}

// applyAll records the same outcome for every recipient of an item.
func (r *Runner) applyAll(it item, host, status, reply string) {
	q, err := r.st.GetQueue(it.id)
	if err != nil {
		return
	}
	out := map[string]outcome{}
	for _, rc := range it.rcpts {
		out[rc] = outcome{status, reply}
	}
	r.apply(it.id, host, out, q)
}

// apply commits one attempt: the timeline, each recipient's status, the
// next attempt time or expiry and, in the same transaction, the DSN for
// what failed for good, so a crash cannot lose the bounce.
func (r *Runner) apply(id, host string, out map[string]outcome, before store.QueueEntry) {
	now := time.Now().UTC()
	var body []byte
	var dsnTo *store.Route
	expired := now.Sub(before.Created) >= r.cfg.MaxAge
	for _, o := range out {
		if o.status == store.RcptFailed || (o.status != store.RcptSent && expired) {
			// A bounce quotes the original headers, and the body may be
			// gone once the entry is finished: read it first. Where the
			// bounce goes is looked up here too, out of the transaction.
			body, _ = r.st.Body(before.BodyID)
			dsnTo = r.dsnRoute(before)
			break
		}
	}
	var failed []store.QueueRcpt
	res, err := r.st.RecordDeliveryDSN(id, func(q *store.QueueEntry) (*store.Incoming, error) {
		failed = nil
		att := store.Attempt{Time: now, Host: host, OK: true}
		var replies []string
		temp := false
		for i := range q.Rcpts {
			rc := &q.Rcpts[i]
			o, ok := out[rc.Address]
			if !ok || rc.Status != store.RcptPending {
				continue
			}
			att.Rcpts = append(att.Rcpts, rc.Address)
			replies = append(replies, o.reply)
			rc.Reply = o.reply
			switch o.status {
			case store.RcptSent:
				rc.Status = store.RcptSent
			case store.RcptFailed:
				rc.Status = store.RcptFailed
				att.OK = false
				failed = append(failed, *rc)
			default:
				att.OK = false
				temp = true
				if now.Sub(q.Created) >= r.cfg.MaxAge {
					rc.Status = store.RcptFailed
					rc.Reply = fmt.Sprintf("%s (gave up after %s; last reply: %s)", "4.4.7 delivery time expired", r.cfg.MaxAge, o.reply)
					failed = append(failed, *rc)
				}
			}
		}
		att.Reply = strings.Join(dedup(replies), " | ")
		q.Attempts = append(q.Attempts, att)
		if len(q.Attempts) > 100 {
			// Keep the first attempts and the latest ones.
			q.Attempts = append(q.Attempts[:10], q.Attempts[len(q.Attempts)-90:]...)
		}
		if temp {
			q.Tries++
			q.NextAttempt = now.Add(r.cfg.Schedule[min(q.Tries-1, len(r.cfg.Schedule)-1)])
		}
		if len(failed) == 0 || dsnTo == nil || q.DSN || q.From == "" {
			return nil, nil
		}
		return r.dsnFor(*q, failed, body, *dsnTo, now), nil
	})
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			r.log.Error("recording delivery", "id", id, "err", err)
		}
		return
	}
	for rc, o := range out {
		r.log.Info("delivery attempt", "id", id, "rcpt", rc, "host", host, "status", o.status, "reply", o.reply)
		r.cfg.Metrics.Delivery(deliveryResult(o.status))
	}
	switch {
	case res.DSNErr != nil:
		r.log.Error("storing DSN", "id", id, "sender", before.From, "err", res.DSNErr)
	case res.DSN != nil:
		r.log.Info("DSN sent", "id", id, "sender", before.From, "failed", len(failed), "queued", res.DSN.QueueID)
	}
}

func dedup(ss []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
