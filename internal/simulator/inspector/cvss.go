package inspector

import (
	"math"
	"math/rand/v2"
)

// cvssVector is a CVSS v3.1 base vector, each metric an index into its value list.
type cvssVector struct {
	av, ac, pr, ui, s, c, i, a uint8
}

var (
	cvssAV  = [...]string{"N", "A", "L", "P"}
	cvssAVw = [...]float64{0.85, 0.62, 0.55, 0.2}
	cvssAC  = [...]string{"L", "H"}
	cvssACw = [...]float64{0.77, 0.44}
	cvssPR  = [...]string{"N", "L", "H"}
	cvssUI  = [...]string{"N", "R"}
	cvssUIw = [...]float64{0.85, 0.62}
	cvssS   = [...]string{"U", "C"}
	cvssCIA = [...]string{"H", "L", "N"}
	cvssCIw = [...]float64{0.56, 0.22, 0}
)

// String renders the vector as NVD does, e.g. CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H.
func (v cvssVector) String() string {
	return "CVSS:3.1/AV:" + cvssAV[v.av] + "/AC:" + cvssAC[v.ac] + "/PR:" + cvssPR[v.pr] + "/UI:" + cvssUI[v.ui] +
		"/S:" + cvssS[v.s] + "/C:" + cvssCIA[v.c] + "/I:" + cvssCIA[v.i] + "/A:" + cvssCIA[v.a]
}

// score computes the CVSS v3.1 base score in tenths (0..100) per the FIRST specification.
func (v cvssVector) score() int16 {
	changed := v.s == 1
	iss := 1 - (1-cvssCIw[v.c])*(1-cvssCIw[v.i])*(1-cvssCIw[v.a])
	var impact float64
	if changed {
		impact = 7.52*(iss-0.029) - 3.25*math.Pow(iss-0.02, 15)
	} else {
		impact = 6.42 * iss
	}
	pr := [...]float64{0.85, 0.62, 0.27}[v.pr]
	if changed {
		pr = [...]float64{0.85, 0.68, 0.5}[v.pr]
	}
	exploitability := 8.22 * cvssAVw[v.av] * cvssACw[v.ac] * pr * cvssUIw[v.ui]
	if impact <= 0 {
		return 0
	}
	total := impact + exploitability
	if changed {
		total *= 1.08
	}
	return roundUp(math.Min(total, 10))
}

// roundUp is the CVSS v3.1 Roundup function, returning tenths.
func roundUp(x float64) int16 {
	n := int64(math.Round(x * 100000))
	if n%10000 == 0 {
		return int16(n / 10000)
	}
	return int16(n/10000 + 1)
}

// randomVector draws a vector with roughly the metric distribution of published CVEs.
func randomVector(rng *rand.Rand) cvssVector {
	pick := func(weights ...int) uint8 {
		total := 0
		for _, w := range weights {
			total += w
		}
		n := rng.IntN(total)
		for i, w := range weights {
			if n < w {
				return uint8(i)
			}
			n -= w
		}
		return 0
	}
	v := cvssVector{
		av: pick(60, 3, 35, 2),
		ac: pick(85, 15),
		pr: pick(60, 30, 10),
		ui: pick(75, 25),
		s:  pick(85, 15),
		c:  pick(50, 25, 25),
		i:  pick(45, 25, 30),
		a:  pick(55, 10, 35),
	}
	if v.c == 2 && v.i == 2 && v.a == 2 {
		v.a = 0 // a published CVE always has some impact
	}
	return v
}

// vectorsByScore maps each reachable base score (tenths) to the first vector producing it.
func vectorsByScore() map[int16]cvssVector {
	out := make(map[int16]cvssVector)
	var v cvssVector
	for v.av = 0; v.av < 4; v.av++ {
		for v.ac = 0; v.ac < 2; v.ac++ {
			for v.pr = 0; v.pr < 3; v.pr++ {
				for v.ui = 0; v.ui < 2; v.ui++ {
					for v.s = 0; v.s < 2; v.s++ {
						for v.c = 0; v.c < 3; v.c++ {
							for v.i = 0; v.i < 3; v.i++ {
								for v.a = 0; v.a < 3; v.a++ {
									if _, ok := out[v.score()]; !ok {
										out[v.score()] = v
									}
								}
							}
						}
					}
				}
			}
		}
	}
	return out
}

// nearestVector returns a vector whose score is target, or the closest one and false.
func nearestVector(byScore map[int16]cvssVector, target int16) (cvssVector, bool) {
	if v, ok := byScore[target]; ok {
		return v, true
	}
	for d := int16(1); d <= 100; d++ {
		if v, ok := byScore[target+d]; ok {
			return v, false
		}
		if v, ok := byScore[target-d]; ok {
			return v, false
		}
	}
	return cvssVector{}, false
}

// severityForScore maps an Inspector score in tenths to its severity label.
func severityForScore(t int16) uint8 {
	switch {
	case t == 0:
		return sevInformational
	case t < 40:
		return sevLow
	case t < 70:
		return sevMedium
	case t < 90:
		return sevHigh
	default:
		return sevCritical
	}
}
