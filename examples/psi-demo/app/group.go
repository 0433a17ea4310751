package main

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"math/big"
)

// The 2048-bit MODP group of RFC 3526 (a safe prime p = 2q + 1). Elements are
// hashed into the subgroup of quadratic residues, whose order q is prime, so
// exponentiation by a secret key is a bijection on it and
// (H(x)^a)^b = (H(x)^b)^a.
var (
	prime, _ = new(big.Int).SetString(
		"FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74"+
			"020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437"+
			"4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"+
			"EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05"+
			"98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB"+
			"9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B"+
			"E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718"+
			"3995497CEA956AE515D2261898FA051015728E5A8AACAA68FFFFFFFFFFFFFFFF", 16)
	order = new(big.Int).Rsh(prime, 1)
	one   = big.NewInt(1)
)

// hashToGroup maps an element to a quadratic residue mod p: SHA-256 in counter
// mode widened past p's size, reduced mod p, then squared.
func hashToGroup(element string) *big.Int {
	wide := make([]byte, 0, 288)
	for counter := uint32(0); len(wide) < 288; counter++ {
		var block [4]byte
		binary.BigEndian.PutUint32(block[:], counter)
		digest := sha256.Sum256(append(append([]byte("psi-demo/v1/"), block[:]...), element...))
		wide = append(wide, digest[:]...)
	}
	value := new(big.Int).SetBytes(wide)
	value.Mod(value, prime)
	return value.Exp(value, big.NewInt(2), prime)
}

// newSecret is a uniformly random exponent in [1, q).
func newSecret() (*big.Int, error) {
	limit := new(big.Int).Sub(order, one)
	secret, err := rand.Int(rand.Reader, limit)
	if err != nil {
		return nil, err
	}
	return secret.Add(secret, one), nil
}

func blind(value, secret *big.Int) *big.Int {
	return new(big.Int).Exp(value, secret, prime)
}

// inGroup tells whether a value received from the peer is a quadratic residue
// in (1, p): anything else would let a peer probe the key.
func inGroup(value *big.Int) bool {
	if value.Cmp(one) <= 0 || value.Cmp(prime) >= 0 {
		return false
	}
	return new(big.Int).Exp(value, order, prime).Cmp(one) == 0
}
