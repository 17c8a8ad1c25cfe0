// A stand-in for github.com/mwitkow/go-conntrack (unmaintained since 2019),
// put in its place by the replace directive in the repository's go.mod. See
// doc.go for why.
module github.com/mwitkow/go-conntrack

go 1.26
