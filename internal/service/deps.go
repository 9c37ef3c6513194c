package service

// Temporary: pins the modules the foundation uses until their packages land.
import (
	_ "github.com/emiago/sipgo"
	_ "github.com/emiago/sipgo/sip"
	_ "github.com/pion/rtcp"
	_ "github.com/pion/rtp"
	_ "github.com/pion/sdp/v3"
	_ "github.com/prometheus/client_golang/prometheus/promhttp"
	_ "go.uber.org/goleak"
	_ "go.yaml.in/yaml/v3"
	_ "golang.org/x/crypto/argon2"
)
