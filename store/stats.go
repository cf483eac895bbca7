package store

import (
	"encoding/binary"
	"time"

	"github.com/authsmtp/authsmtp/store/kv"
)

// Traffic counters for the admin dashboard: messages sent (submitted by a
// login, over SMTP or webmail) and received (from the MX) per hour, for
// the last 7 days. They live in meta "traffic" as a ring of 168 slots of
// 16 bytes (hour number since the epoch, sent, received), updated inside
// the acceptance transaction, so they survive restarts and cost no extra
// commit.

const trafficSlots = 7 * 24

var keyTraffic = []byte("traffic")

// TrafficHour is one hour of traffic.
type TrafficHour struct {
	Hour     time.Time
	Sent     int
	Received int
}

// recordTrafficTx counts one accepted message. Safe inside Batch: it only
// changes tx state, which a retried Batch run starts over from.
func recordTrafficTx(tx kv.Tx, in *Incoming, now time.Time) {
	sent, recv := 0, 0
	switch {
	case in.Login != "" && len(in.Remote) == 0 && allCapturedFolder(in.Local):
		return // a demo copy of mail already counted when it was sent
	case in.Login != "":
		sent = 1
	case !in.DSN:
		recv = 1
	default:
		return
	}
	b := tx.Bucket(bucketMeta)
	ring := make([]byte, trafficSlots*16)
	copy(ring, b.Get(keyTraffic))
	h := uint64(now.Unix() / 3600)
	slot := ring[(h%trafficSlots)*16:][:16]
	if binary.BigEndian.Uint64(slot) != h {
		binary.BigEndian.PutUint64(slot, h)
		binary.BigEndian.PutUint32(slot[8:], 0)
		binary.BigEndian.PutUint32(slot[12:], 0)
	}
	binary.BigEndian.PutUint32(slot[8:], binary.BigEndian.Uint32(slot[8:])+uint32(sent))
	binary.BigEndian.PutUint32(slot[12:], binary.BigEndian.Uint32(slot[12:])+uint32(recv))
	b.Put(keyTraffic, ring)
}

// Traffic returns the last n hours (n ≤ 168), oldest first, ending with
// the current hour; hours without mail are zero.
func (s *Store) Traffic(n int) []TrafficHour {
	if n > trafficSlots {
		n = trafficSlots
	}
	var ring []byte
	s.db.View(func(tx kv.Tx) error {
		ring = append([]byte(nil), tx.Bucket(bucketMeta).Get(keyTraffic)...)
		return nil
	})
	now := uint64(time.Now().Unix() / 3600)
	out := make([]TrafficHour, n)
	for i := range out {
		h := now - uint64(n-1-i)
		out[i].Hour = time.Unix(int64(h)*3600, 0).UTC()
		if len(ring) == trafficSlots*16 {
			slot := ring[(h%trafficSlots)*16:][:16]
			if binary.BigEndian.Uint64(slot) == h {
				out[i].Sent = int(binary.BigEndian.Uint32(slot[8:]))
				out[i].Received = int(binary.BigEndian.Uint32(slot[12:]))
			}
		}
	}
	return out
}

func allCapturedFolder(local []LocalRcpt) bool {
	for _, r := range local {
		if r.Mailbox != "Captured" {
			return false
		}
	}
	return len(local) > 0
}
