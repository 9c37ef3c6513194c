package sdp

import (
	"fmt"
	"strconv"
)

// h264Level is one row of H.264 Table A-1: the limits a decoder of that
// level accepts. idc is level_idc; oneB marks level 1b, which sits between
// 1 and 1.1.
type h264Level struct {
	idc     uint8
	oneB    bool
	maxMBPS int // macroblocks per second
	maxFS   int // macroblocks per frame
}

// h264Levels in increasing order (H.264 Table A-1).
var h264Levels = []h264Level{
	{10, false, 1485, 99},
	{11, true, 1485, 99}, // 1b
	{11, false, 3000, 396},
	{12, false, 6000, 396},
	{13, false, 11880, 396},
	{20, false, 11880, 396},
	{21, false, 19800, 792},
	{22, false, 20250, 1620},
	{30, false, 40500, 1620},
	{31, false, 108000, 3600},
	{32, false, 216000, 5120},
	{40, false, 245760, 8192},
	{41, false, 245760, 8192},
	{42, false, 522240, 8704},
	{50, false, 589824, 22080},
	{51, false, 983040, 36864},
	{52, false, 2073600, 36864},
	{60, false, 4177920, 139264},
	{61, false, 8355840, 139264},
	{62, false, 16711680, 139264},
}

const level1b = 1 // index of 1b in h264Levels

// profileLevel is the profile-level-id of RFC 6184 section 8.1:
// profile_idc, the constraint flags byte (profile-iop) and level_idc.
type profileLevel struct {
	profile, iop, level uint8
}

// defaultProfileLevel is what an H.264 format without profile-level-id
// means: Baseline at level 1 (RFC 6184 section 8.1).
var defaultProfileLevel = profileLevel{profile: 66, iop: 0, level: 10}

// Constraint flags in profile-iop (H.264 7.4.2.1.1).
const (
	constraintSet0 = 0x80
	constraintSet1 = 0x40
	constraintSet3 = 0x10
)

func parseProfileLevelID(s string) (profileLevel, bool) {
	if len(s) != 6 {
		return profileLevel{}, false
	}
	v, err := strconv.ParseUint(s, 16, 32)
	if err != nil {
		return profileLevel{}, false
	}
	return profileLevel{profile: uint8(v >> 16), iop: uint8(v >> 8), level: uint8(v)}, true
}

func (p profileLevel) String() string {
	return fmt.Sprintf("%02x%02x%02x", p.profile, p.iop, p.level)
}

// h264Class orders H.264 profiles by how well they fit what we send.
type h264Class int

const (
	classConstrainedBaseline h264Class = iota // exactly what we send
	classBaseline                             // a superset of what we send
	classDecodesCB                            // Main, High and its relatives: their decoders take constrained baseline too
	classUnsupported                          // intra-only and scalable/multiview profiles
)

// class sorts a profile-level-id by RFC 6184 Table 5 (which profile_idc
// and constraint flags are the same profile) and H.264 Annex A (which
// decoders must decode constrained baseline bitstreams).
func (p profileLevel) class() h264Class {
	switch p.profile {
	case 66: // Baseline
		if p.iop&constraintSet1 != 0 {
			return classConstrainedBaseline
		}
		return classBaseline
	case 77: // Main
		if p.iop&constraintSet0 != 0 {
			return classConstrainedBaseline
		}
		return classDecodesCB
	case 88: // Extended
		switch p.iop & (constraintSet0 | constraintSet1) {
		case constraintSet0 | constraintSet1:
			return classConstrainedBaseline
		case constraintSet0:
			return classBaseline
		}
		return classUnsupported
	case 100: // High
		return classDecodesCB
	case 110, 122, 244: // High 10, High 4:2:2, High 4:4:4 Predictive
		if p.iop&constraintSet3 != 0 {
			return classUnsupported // the Intra variants take no P slices
		}
		return classDecodesCB
	}
	return classUnsupported
}

// levelIndex finds the level in h264Levels. Level 1b is level_idc 11 with
// constraint_set3_flag in the Baseline, Main and Extended profiles, and
// level_idc 9 elsewhere (RFC 6184 section 8.1). An unknown level_idc counts
// as the highest known level below it.
func (p profileLevel) levelIndex() int {
	if p.level == 9 || p.level == 11 && p.iop&constraintSet3 != 0 && (p.profile == 66 || p.profile == 77 || p.profile == 88) {
		return level1b
	}
	best := 0
	for i, l := range h264Levels {
		if l.oneB {
			continue
		}
		if l.idc == p.level {
			return i
		}
		if l.idc < p.level {
			best = i
		}
	}
	return best
}

// withLevel is p with the level of h264Levels[i], keeping the profile and
// its constraint flags as RFC 6184 section 8.2.2 asks of an answer.
func (p profileLevel) withLevel(i int) profileLevel {
	old12 := p.profile == 66 || p.profile == 77 || p.profile == 88
	l := h264Levels[i]
	switch {
	case l.oneB && old12:
		p.level, p.iop = 11, p.iop|constraintSet3
	case l.oneB:
		p.level = 9
	default:
		// In these three profiles the flag means 1b and nothing else.
		p.level = l.idc
		if old12 {
			p.iop &^= constraintSet3
		}
	}
	return p
}

// levelFor is the lowest level whose limits cover maxFS macroblocks a
// frame at fps frames a second, or the highest level.
func levelFor(maxFS, fps int) int {
	for i, l := range h264Levels {
		if !l.oneB && l.maxFS >= maxFS && l.maxMBPS >= maxFS*fps {
			return i
		}
	}
	return len(h264Levels) - 1
}
