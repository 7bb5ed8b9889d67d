package window

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math"
	"math/bits"
	"slices"
)

// A Sketch counts distinct users in bounded space. While it holds few users
// it keeps their 64-bit hashes and counts exactly (up to hash collisions,
// about 1 in 10^16 for a pair); past sparseLimit users it turns into a
// HyperLogLog of 2^10 one-byte registers, whose standard error is
// 1.04/sqrt(1024), about 3.25%. Either form encodes to at most about 1.4 KB
// of base64.
const (
	sketchPrecision = 10
	sketchRegisters = 1 << sketchPrecision
	sparseLimit     = 120

	sparseTag = 1
	denseTag  = 2
)

// Sketch is a set of users, exact while small and estimated once large.
type Sketch struct {
	dense     bool
	sparse    map[uint64]struct{}
	registers [sketchRegisters]uint8
}

// DecodeSketch reads a sketch written by Encode.
func DecodeSketch(s string) (*Sketch, error) {
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("decoding user sketch: %w", err)
	}
	if len(raw) == 0 {
		return nil, fmt.Errorf("user sketch is empty")
	}
	sk := &Sketch{}
	switch body := raw[1:]; raw[0] {
	case sparseTag:
		if len(body)%8 != 0 || len(body)/8 > sparseLimit {
			return nil, fmt.Errorf("sparse user sketch has %d bytes; want a multiple of 8 up to %d", len(body), 8*sparseLimit)
		}
		for i := 0; i < len(body); i += 8 {
			sk.addHash(binary.BigEndian.Uint64(body[i:]))
		}
	case denseTag:
		if len(body) != sketchRegisters {
			return nil, fmt.Errorf("user sketch has %d registers, want %d", len(body), sketchRegisters)
		}
		sk.dense = true
		copy(sk.registers[:], body)
	default:
		return nil, fmt.Errorf("user sketch has unknown form %d", raw[0])
	}
	return sk, nil
}

// Encode writes the sketch as base64; equal sets encode equally.
func (s *Sketch) Encode() string {
	if s.dense {
		return base64.StdEncoding.EncodeToString(append([]byte{denseTag}, s.registers[:]...))
	}
	hashes := make([]uint64, 0, len(s.sparse))
	for h := range s.sparse {
		hashes = append(hashes, h)
	}
	slices.Sort(hashes)
	raw := make([]byte, 1, 1+8*len(hashes))
	raw[0] = sparseTag
	for _, h := range hashes {
		raw = binary.BigEndian.AppendUint64(raw, h)
	}
	return base64.StdEncoding.EncodeToString(raw)
}

// Add counts a user.
func (s *Sketch) Add(user string) {
	s.addHash(userHash(user))
}

// userHash is the 64-bit hash a sketch keeps of a user.
func userHash(user string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(user))
	return mix(h.Sum64())
}

// register returns the HyperLogLog register a hash falls in and the rank it
// offers there (one more than its leading zeros after the index bits).
func register(x uint64) (idx int, rank uint8) {
	rest := x<<sketchPrecision | 1<<(sketchPrecision-1)                           // guard bit bounds the rank
	return int(x >> (64 - sketchPrecision)), uint8(bits.LeadingZeros64(rest)) + 1 //nolint:gosec // at most 55
}

func (s *Sketch) addHash(x uint64) {
	if !s.dense {
		if s.sparse == nil {
			s.sparse = map[uint64]struct{}{}
		}
		s.sparse[x] = struct{}{}
		if len(s.sparse) > sparseLimit {
			s.densify()
		}
		return
	}
	idx, rank := register(x)
	if rank > s.registers[idx] {
		s.registers[idx] = rank
	}
}

func (s *Sketch) densify() {
	hashes := s.sparse
	s.dense, s.sparse = true, nil
	for h := range hashes {
		s.addHash(h)
	}
}

// Merge adds every user of o.
func (s *Sketch) Merge(o *Sketch) {
	if !o.dense {
		for h := range o.sparse {
			s.addHash(h)
		}
		return
	}
	if !s.dense {
		s.densify()
	}
	for i, r := range o.registers {
		if r > s.registers[i] {
			s.registers[i] = r
		}
	}
}

// Estimate returns the number of distinct users: exact while the sketch is
// sparse, else the HyperLogLog estimate.
func (s *Sketch) Estimate() int64 {
	if !s.dense {
		return int64(len(s.sparse))
	}
	const m = float64(sketchRegisters)
	sum, zeros := 0.0, 0
	for _, r := range s.registers {
		sum += math.Ldexp(1, -int(r))
		if r == 0 {
			zeros++
		}
	}
	alpha := 0.7213 / (1 + 1.079/m)
	estimate := alpha * m * m / sum
	if estimate <= 2.5*m && zeros > 0 {
		estimate = m * math.Log(m/float64(zeros)) // linear counting
	}
	return int64(math.Round(estimate))
}

// mix is the finalizer of MurmurHash3: FNV's low bits are weak, and the
// register index comes from the top bits.
func mix(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

// clone returns an independent copy.
func (s *Sketch) clone() *Sketch {
	c := &Sketch{dense: s.dense, registers: s.registers}
	if s.sparse != nil {
		c.sparse = make(map[uint64]struct{}, len(s.sparse))
		for h := range s.sparse {
			c.sparse[h] = struct{}{}
		}
	}
	return c
}
