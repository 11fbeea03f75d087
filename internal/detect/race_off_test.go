//go:build !race

package detect

const raceBuild = false
