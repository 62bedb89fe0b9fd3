// The sandbox's stand-in for github.com/wzshiming/cmux, which kwok's server uses to serve
// HTTP and HTTPS on one port. This one serves only HTTPS clients that present a certificate
// of the cluster's CA (as a kubelet does with --client-ca-file): kwok v0.8 has no option to
// authenticate anyone, and its port is open to every user of the machine.
module github.com/wzshiming/cmux

go 1.22
