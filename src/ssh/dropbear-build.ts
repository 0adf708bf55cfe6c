/** sha256 of dist/dropbearmulti as scripts/build-dropbear.sh builds it (bookworm's musl 1.2.3, gcc 12): checked by the build and before every use. */
export const DROPBEAR_SHA256 = '8a15822ba316dd866292b22cf82b489ebc6295ebd22c38d50d4aa5ce701298fd';
