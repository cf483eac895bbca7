package store

import (
	"encoding/binary"
	"errors"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/authsmtp/authsmtp/store/kv"
)

// Counters in the database, for several nodes on one database
// (Options.Shared): the send caps and the failed-login throttle count
// there instead of in each process's memory, so a limit holds for the
// cluster (a login throttled on one node is throttled on all). A single
// process on its own file keeps the in-memory counters: no transaction
// per message or failed login.
//
// Each operation is one short transaction over the limits bucket:
//
//	send/<login>           the login's sendLog (encodeSendLog)
//	thr/ip:<key>           a throttleState (encodeThrottleState)
//	thr/login:<login>      a throttleState
//	pair/<ip key>\x00<login>  the (IP, login) pair's failures
//
// A backend may run a transaction's function more than once (a retried
// serializable transaction), so each function only computes from what it
// read and returns its result through variables it resets first.
type sharedCounters struct {
	db kv.DB
	// swept is the unix time of the last sweep of expired throttle keys.
	swept atomic.Int64
}

var bucketLimits = []byte("limits")

const (
	sendPrefix  = "send/"
	thrPrefix   = "thr/"
	pairPrefix  = "pair/"
	sweepPeriod = 10 * time.Minute
)

func (c *sharedCounters) update(fn func(b kv.Bucket) error) error {
	return c.db.Update(func(tx kv.Tx) error { return fn(tx.Bucket(bucketLimits)) })
}

func (c *sharedCounters) view(fn func(b kv.Bucket) error) error {
	return c.db.View(func(tx kv.Tx) error { return fn(tx.Bucket(bucketLimits)) })
}

// takeSend is SendCaps.take on the login's log in the database.
func (c *sharedCounters) takeSend(now time.Time, login string, limits SendLimits, rcpts int) error {
	var capErr error
	err := c.update(func(b kv.Bucket) error {
		capErr = takeSendIn(b, now, login, limits, rcpts)
		if _, ok := capErr.(*CapError); ok {
			return nil // nothing written: the refusal is the answer
		}
		return capErr
	})
	if err != nil {
		return err
	}
	return capErr
}

// takeSendIn counts one message in the login's log in b (the limits
// bucket), or returns the *CapError that refuses it, having written
// nothing. It only reads and writes b, so it may run more than once.
func takeSendIn(b kv.Bucket, now time.Time, login string, limits SendLimits, rcpts int) error {
	k := []byte(sendPrefix + login)
	l := decodeSendLog(b.Get(k))
	if err := l.take(now, login, limits, rcpts); err != nil {
		return err
	}
	l.compact(now)
	return b.Put(k, encodeSendLog(l))
}

// compact merges the buckets older than an hour into one per clock hour,
// keeping the latest first time of each: the day's record stays under ~84
// buckets, and a merged bucket expires no earlier than its newest message
// would have (a limit may hold up to an hour longer, never shorter).
func (l *sendLog) compact(now time.Time) {
	out := l.buckets[:0]
	for _, b := range l.buckets {
		if n := len(out); n > 0 && now.Sub(b.first) >= time.Hour &&
			now.Sub(out[n-1].first) >= time.Hour && out[n-1].minute/60 == b.minute/60 {
			out[n-1].minute, out[n-1].first = b.minute, b.first
			out[n-1].msgs += b.msgs
			out[n-1].rcpts += b.rcpts
			continue
		}
		out = append(out, b)
	}
	l.buckets = out
}

// encodeSendLog writes a log as varints: minute, first (unix ms), msgs,
// rcpts per bucket.
func encodeSendLog(l *sendLog) []byte {
	out := make([]byte, 0, 1+len(l.buckets)*12)
	out = binary.AppendUvarint(out, uint64(len(l.buckets)))
	for _, b := range l.buckets {
		out = binary.AppendVarint(out, b.minute)
		out = binary.AppendVarint(out, b.first.UnixMilli())
		out = binary.AppendUvarint(out, uint64(b.msgs))
		out = binary.AppendUvarint(out, uint64(b.rcpts))
	}
	return out
}

// decodeSendLog reads encodeSendLog's bytes; anything unreadable is an
// empty log (the counts start over rather than block a login for ever).
func decodeSendLog(v []byte) *sendLog {
	l := &sendLog{}
	n, k := binary.Uvarint(v)
	if k <= 0 || n > 1<<16 {
		return l
	}
	v = v[k:]
	for range n {
		var f [4]int64
		for i := range f {
			var k int
			if i < 2 {
				f[i], k = binary.Varint(v)
			} else {
				var u uint64
				u, k = binary.Uvarint(v)
				f[i] = int64(u)
			}
			if k <= 0 {
				return &sendLog{}
			}
			v = v[k:]
		}
		l.buckets = append(l.buckets, sendBucket{minute: f[0], first: time.UnixMilli(f[1]), msgs: int(f[2]), rcpts: int(f[3])})
		l.msgs += int(f[2])
		l.rcpts += int(f[3])
	}
	return l
}

func encodeThrottleState(st *throttleState) []byte {
	out := binary.AppendUvarint(nil, uint64(st.failures))
	out = binary.AppendVarint(out, st.last.UnixNano())
	return binary.AppendVarint(out, st.blockedUntil.UnixNano())
}

// decodeThrottleState returns nil for a missing or unreadable record.
func decodeThrottleState(v []byte) *throttleState {
	if v == nil {
		return nil
	}
	f, k := binary.Uvarint(v)
	if k <= 0 {
		return nil
	}
	last, k2 := binary.Varint(v[k:])
	if k2 <= 0 {
		return nil
	}
	until, k3 := binary.Varint(v[k+k2:])
	if k3 <= 0 {
		return nil
	}
	return &throttleState{failures: int(f), last: time.Unix(0, last), blockedUntil: time.Unix(0, until)}
}

func pairDBKey(ipKey, loginKey string) []byte {
	return []byte(pairPrefix + ipKey + "\x00" + loginKey)
}

// throttleGet reads key's state as Throttle.get does: nil when missing or
// expired.
func throttleGet(b kv.Bucket, cfg ThrottleConfig, key string, now time.Time) *throttleState {
	st := decodeThrottleState(b.Get([]byte(thrPrefix + key)))
	if st != nil && st.expired(cfg, now) {
		return nil
	}
	return st
}

// check is Throttle.Check in the database.
func (c *sharedCounters) check(cfg ThrottleConfig, keys []string, now time.Time) (blocked bool, until time.Time, err error) {
	err = c.view(func(b kv.Bucket) error {
		blocked, until = false, time.Time{}
		for _, k := range keys {
			if st := throttleGet(b, cfg, k, now); st != nil && now.Before(st.blockedUntil) {
				blocked = true
				if st.blockedUntil.After(until) {
					until = st.blockedUntil
				}
			}
		}
		return nil
	})
	return blocked, until, err
}

// failures is Throttle.Failures in the database.
func (c *sharedCounters) failures(cfg ThrottleConfig, key string, now time.Time) int {
	n := 0
	c.view(func(b kv.Bucket) error {
		if st := throttleGet(b, cfg, key, now); st != nil {
			n = st.failures
		}
		return nil
	})
	return n
}

// fail counts one failure of the pair and both keys; it returns the worst
// count of the two keys.
func (c *sharedCounters) fail(cfg ThrottleConfig, ipKey, loginKey string, now time.Time) (int, error) {
	worst := 0
	err := c.update(func(b kv.Bucket) error {
		worst = 0
		pk := pairDBKey(ipKey, loginKey)
		pair := decodeThrottleState(b.Get(pk))
		if pair == nil || now.Sub(pair.last) > cfg.Window {
			pair = &throttleState{}
		}
		pair.failures++
		pair.last = now
		if err := b.Put(pk, encodeThrottleState(pair)); err != nil {
			return err
		}
		for _, k := range []string{"ip:" + ipKey, "login:" + loginKey} {
			st := throttleGet(b, cfg, k, now)
			if st == nil {
				st = &throttleState{}
			}
			st.fail(cfg, now)
			if err := b.Put([]byte(thrPrefix+k), encodeThrottleState(st)); err != nil {
				return err
			}
			worst = max(worst, st.failures)
		}
		return nil
	})
	if err == nil && now.Unix()-c.swept.Load() > int64(sweepPeriod/time.Second) {
		c.swept.Store(now.Unix())
		c.sweep(cfg, now)
	}
	return worst, err
}

// succeed is Throttle.Succeed in the database.
func (c *sharedCounters) succeed(ipKey, loginKey string, now time.Time) error {
	pk := pairDBKey(ipKey, loginKey)
	var found bool
	if err := c.view(func(b kv.Bucket) error { found = b.Get(pk) != nil; return nil }); err != nil || !found {
		return err // the common case: a login with no failures reads one key
	}
	return c.update(func(b kv.Bucket) error {
		pair := decodeThrottleState(b.Get(pk))
		if pair == nil {
			return nil
		}
		if err := b.Delete(pk); err != nil {
			return err
		}
		for _, k := range []string{"ip:" + ipKey, "login:" + loginKey} {
			dk := []byte(thrPrefix + k)
			st := decodeThrottleState(b.Get(dk))
			if st == nil {
				continue
			}
			st.failures = max(0, st.failures-pair.failures)
			var err error
			if st.failures == 0 && now.After(st.blockedUntil) {
				err = b.Delete(dk)
			} else {
				err = b.Put(dk, encodeThrottleState(st))
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// blocked lists the keys refused now, sorted.
func (c *sharedCounters) blocked(now time.Time) ([]Blocked, error) {
	var out []Blocked
	err := c.view(func(b kv.Bucket) error {
		out = nil
		cur := b.Cursor()
		p := []byte(thrPrefix)
		for k, v := cur.Seek(p); k != nil && strings.HasPrefix(string(k), thrPrefix); k, v = cur.Next() {
			if st := decodeThrottleState(v); st != nil && now.Before(st.blockedUntil) {
				out = append(out, Blocked{Key: string(k[len(p):]), Failures: st.failures, Until: st.blockedUntil})
			}
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, err
}

// unblock forgets key.
func (c *sharedCounters) unblock(key string) (bool, error) {
	found := false
	err := c.update(func(b kv.Bucket) error {
		k := []byte(thrPrefix + key)
		found = b.Get(k) != nil
		if !found {
			return nil
		}
		return b.Delete(k)
	})
	return found, err
}

// sweep deletes expired throttle keys and pairs, and send logs with
// nothing left in the day (so a wide scan does not grow the bucket for
// ever). Each key is checked again in the deleting transaction: another
// node may have counted on it meanwhile.
func (c *sharedCounters) sweep(cfg ThrottleConfig, now time.Time) error {
	dead := func(k, v []byte) bool {
		switch s := string(k); {
		case strings.HasPrefix(s, thrPrefix):
			st := decodeThrottleState(v)
			return st == nil || st.expired(cfg, now)
		case strings.HasPrefix(s, pairPrefix):
			st := decodeThrottleState(v)
			return st == nil || now.Sub(st.last) > cfg.Window
		case strings.HasPrefix(s, sendPrefix):
			l := decodeSendLog(v)
			l.expire(now)
			return len(l.buckets) == 0
		}
		return false
	}
	var keys [][]byte
	err := c.view(func(b kv.Bucket) error {
		keys = nil
		return b.ForEach(func(k, v []byte) error {
			if dead(k, v) {
				keys = append(keys, append([]byte(nil), k...))
			}
			return nil
		})
	})
	if err != nil || len(keys) == 0 {
		return err
	}
	return c.update(func(b kv.Bucket) error {
		var errs []error
		for _, k := range keys {
			if v := b.Get(k); v != nil && dead(k, v) {
				errs = append(errs, b.Delete(k))
			}
		}
		return errors.Join(errs...)
	})
}
