package store

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/authsmtp/authsmtp/store/kv"
)

// Traffic counters for the admin dashboard: messages sent (submitted by a
// login, over SMTP or webmail) and received (from the MX) per hour, for
// the last 7 days. They live in meta "traffic" as a ring of 168 slots of
// 16 bytes (hour number since the epoch, sent, received), updated inside
// the acceptance transaction, so they survive restarts and cost no extra
// commit.
//
// On a database several nodes share, one key that every message's
// transaction writes would make the nodes' transactions conflict (and
// retry) for a statistic: there the counts are spread over trafficShards
// keys "traffic/0".."traffic/15", chosen by the sender's login or the
// recipient's domain, and Traffic adds them up with "traffic".

const (
	trafficSlots  = 7 * 24
	trafficShards = 16
)

var keyTraffic = []byte("traffic")

// trafficKey is the key that counts in's message: "traffic" on a
// database of its own, a shard on a shared one.
func trafficKey(shared bool, in *Incoming) []byte {
	if !shared {
		return keyTraffic
	}
	who := in.Login
	if who == "" && len(in.Local) > 0 {
		who = DomainOf(in.Local[0].Address)
	}
	h := fnv.New32a()
	h.Write([]byte(who))
	return fmt.Appendf(nil, "%s/%d", keyTraffic, h.Sum32()%trafficShards)
}

// TrafficHour is one hour of traffic.
type TrafficHour struct {
	Hour     time.Time
	Sent     int
	Received int
}

// recordTrafficTx counts one accepted message. Safe inside Batch: it only
// changes tx state, which a retried Batch run starts over from.
func recordTrafficTx(tx kv.Tx, key []byte, in *Incoming, now time.Time) {
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
	copy(ring, b.Get(key))
	h := uint64(now.Unix() / 3600)
	slot := ring[(h%trafficSlots)*16:][:16]
	if binary.BigEndian.Uint64(slot) != h {
		binary.BigEndian.PutUint64(slot, h)
		binary.BigEndian.PutUint32(slot[8:], 0)
		binary.BigEndian.PutUint32(slot[12:], 0)
	}
	binary.BigEndian.PutUint32(slot[8:], binary.BigEndian.Uint32(slot[8:])+uint32(sent))
	binary.BigEndian.PutUint32(slot[12:], binary.BigEndian.Uint32(slot[12:])+uint32(recv))
	b.Put(key, ring)
}

// Traffic returns the last n hours (n ≤ 168), oldest first, ending with
// the current hour; hours without mail are zero.
func (s *Store) Traffic(n int) []TrafficHour {
	if n > trafficSlots {
		n = trafficSlots
	}
	keys := [][]byte{keyTraffic}
	for i := range trafficShards {
		keys = append(keys, fmt.Appendf(nil, "%s/%d", keyTraffic, i))
	}
	var rings [][]byte
	s.db.View(func(tx kv.Tx) error {
		rings = nil
		for _, r := range kv.GetMany(tx.Bucket(bucketMeta), keys) {
			if len(r) == trafficSlots*16 {
				rings = append(rings, append([]byte(nil), r...))
			}
		}
		return nil
	})
	now := uint64(time.Now().Unix() / 3600)
	out := make([]TrafficHour, n)
	for i := range out {
		h := now - uint64(n-1-i)
		out[i].Hour = time.Unix(int64(h)*3600, 0).UTC()
		for _, ring := range rings {
			slot := ring[(h%trafficSlots)*16:][:16]
			if binary.BigEndian.Uint64(slot) == h {
				out[i].Sent += int(binary.BigEndian.Uint32(slot[8:]))
				out[i].Received += int(binary.BigEndian.Uint32(slot[12:]))
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
