/** sha256 of dist/dropbearmulti as scripts/build-dropbear.sh builds it (bookworm's musl 1.2.3, gcc 12): checked by the build and before every use. */
export const DROPBEAR_SHA256 = 'c46f39257c1f2eb710285ae629315d00d7f7a6f2fe284397038764c926d465a1';
