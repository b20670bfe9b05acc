/// Code tables of bitsandbytes 0.50, as float32 bit patterns (embedded, never recomputed: torch's linspace
/// differs by one ulp from a naive recomputation in 22 entries of the dynamic map).
enum CodeTables {
    /// NF4 values by 4-bit code (sorted ascending).
    static let nf4: [Float] = [
        Float(bitPattern: 0xbf800000), Float(bitPattern: 0xbf3239b1), Float(bitPattern: 0xbf066b30), Float(bitPattern: 0xbeca32a0), Float(bitPattern: 0xbe91a24d), Float(bitPattern: 0xbe3d353f), Float(bitPattern: 0xbdba7871), Float(bitPattern: 0x00000000),
        Float(bitPattern: 0x3da2faff), Float(bitPattern: 0x3e24cae3), Float(bitPattern: 0x3e7c04dd), Float(bitPattern: 0x3ead033a), Float(bitPattern: 0x3ee1a4b8), Float(bitPattern: 0x3f1007ab), Float(bitPattern: 0x3f3913b3), Float(bitPattern: 0x3f800000),
    ]
    /// FP4 values by 4-bit code: bit 3 is the sign.
    /// Code 8 is the sign bit over zero: bitsandbytes' dequantization applies the sign separately, so it yields
    /// −0 (its exported table shows +0). Quantization only uses the code order, where ±0 are equal.
    static let fp4: [Float] = [
        Float(bitPattern: 0x00000000), Float(bitPattern: 0x3baaaaab), Float(bitPattern: 0x3f2aaaab), Float(bitPattern: 0x3f800000), Float(bitPattern: 0x3eaaaaab), Float(bitPattern: 0x3f000000), Float(bitPattern: 0x3e2aaaab), Float(bitPattern: 0x3e800000),
        Float(bitPattern: 0x80000000), Float(bitPattern: 0xbbaaaaab), Float(bitPattern: 0xbf2aaaab), Float(bitPattern: 0xbf800000), Float(bitPattern: 0xbeaaaaab), Float(bitPattern: 0xbf000000), Float(bitPattern: 0xbe2aaaab), Float(bitPattern: 0xbe800000),
    ]
    /// The signed dynamic 8-bit map used for double quantization of absmax (256 entries).
    static let dynamic8bit: [Float] = [
        Float(bitPattern: 0xbf7e3333), Float(bitPattern: 0xbf7a999a), Float(bitPattern: 0xbf770000), Float(bitPattern: 0xbf736666), Float(bitPattern: 0xbf6fcccd), Float(bitPattern: 0xbf6c3333), Float(bitPattern: 0xbf68999a), Float(bitPattern: 0xbf650000),
        Float(bitPattern: 0xbf616666), Float(bitPattern: 0xbf5dcccd), Float(bitPattern: 0xbf5a3333), Float(bitPattern: 0xbf56999a), Float(bitPattern: 0xbf530000), Float(bitPattern: 0xbf4f6666), Float(bitPattern: 0xbf4bcccd), Float(bitPattern: 0xbf483333),
        Float(bitPattern: 0xbf44999a), Float(bitPattern: 0xbf410000), Float(bitPattern: 0xbf3d6666), Float(bitPattern: 0xbf39cccd), Float(bitPattern: 0xbf363334), Float(bitPattern: 0xbf32999a), Float(bitPattern: 0xbf2f0000), Float(bitPattern: 0xbf2b6666),
        Float(bitPattern: 0xbf27cccd), Float(bitPattern: 0xbf243334), Float(bitPattern: 0xbf20999a), Float(bitPattern: 0xbf1d0000), Float(bitPattern: 0xbf196666), Float(bitPattern: 0xbf15cccd), Float(bitPattern: 0xbf123334), Float(bitPattern: 0xbf0e999a),
        Float(bitPattern: 0xbf0b0000), Float(bitPattern: 0xbf076666), Float(bitPattern: 0xbf03cccc), Float(bitPattern: 0xbf003333), Float(bitPattern: 0xbef93332), Float(bitPattern: 0xbef20000), Float(bitPattern: 0xbeeacccc), Float(bitPattern: 0xbee3999a),
        Float(bitPattern: 0xbedc6666), Float(bitPattern: 0xbed53333), Float(bitPattern: 0xbece0000), Float(bitPattern: 0xbec6cccc), Float(bitPattern: 0xbebf999a), Float(bitPattern: 0xbeb86666), Float(bitPattern: 0xbeb13333), Float(bitPattern: 0xbeaa0000),
        Float(bitPattern: 0xbea2cccc), Float(bitPattern: 0xbe9b999a), Float(bitPattern: 0xbe946666), Float(bitPattern: 0xbe8d3334), Float(bitPattern: 0xbe860000), Float(bitPattern: 0xbe7d9999), Float(bitPattern: 0xbe6f3333), Float(bitPattern: 0xbe60cccd),
        Float(bitPattern: 0xbe526666), Float(bitPattern: 0xbe440000), Float(bitPattern: 0xbe35999a), Float(bitPattern: 0xbe273333), Float(bitPattern: 0xbe18cccd), Float(bitPattern: 0xbe0a6666), Float(bitPattern: 0xbdf80000), Float(bitPattern: 0xbddb3334),
        Float(bitPattern: 0xbdc9eb85), Float(bitPattern: 0xbdc428f7), Float(bitPattern: 0xbdbe6667), Float(bitPattern: 0xbdb8a3d7), Float(bitPattern: 0xbdb2e148), Float(bitPattern: 0xbdad1eb8), Float(bitPattern: 0xbda75c2a), Float(bitPattern: 0xbda1999a),
        Float(bitPattern: 0xbd9bd70a), Float(bitPattern: 0xbd96147b), Float(bitPattern: 0xbd9051eb), Float(bitPattern: 0xbd8a8f5d), Float(bitPattern: 0xbd84cccd), Float(bitPattern: 0xbd7e147b), Float(bitPattern: 0xbd728f5d), Float(bitPattern: 0xbd670a3d),
        Float(bitPattern: 0xbd5b851f), Float(bitPattern: 0xbd500000), Float(bitPattern: 0xbd447ae1), Float(bitPattern: 0xbd38f5c3), Float(bitPattern: 0xbd2d70a3), Float(bitPattern: 0xbd21eb85), Float(bitPattern: 0xbd166667), Float(bitPattern: 0xbd0ae148),
        Float(bitPattern: 0xbcfeb852), Float(bitPattern: 0xbce7ae15), Float(bitPattern: 0xbcd0a3d7), Float(bitPattern: 0xbcb9999a), Float(bitPattern: 0xbca28f5d), Float(bitPattern: 0xbc8b851f), Float(bitPattern: 0xbc68f5c3), Float(bitPattern: 0xbc3ae148),
        Float(bitPattern: 0xbc1f3b64), Float(bitPattern: 0xbc160418), Float(bitPattern: 0xbc0ccccd), Float(bitPattern: 0xbc039581), Float(bitPattern: 0xbbf4bc6a), Float(bitPattern: 0xbbe24dd3), Float(bitPattern: 0xbbcfdf3b), Float(bitPattern: 0xbbbd70a4),
        Float(bitPattern: 0xbbab020d), Float(bitPattern: 0xbb989374), Float(bitPattern: 0xbb8624dd), Float(bitPattern: 0xbb676c8a), Float(bitPattern: 0xbb428f5c), Float(bitPattern: 0xbb1db22d), Float(bitPattern: 0xbaf1a9fc), Float(bitPattern: 0xbaa7ef9d),
        Float(bitPattern: 0xba7765ff), Float(bitPattern: 0xba59e83e), Float(bitPattern: 0xba3c6a80), Float(bitPattern: 0xba1eecc1), Float(bitPattern: 0xba016f01), Float(bitPattern: 0xb9c7e283), Float(bitPattern: 0xb98ce705), Float(bitPattern: 0xb923d70b),
        Float(bitPattern: 0xb8ba1f4b), Float(bitPattern: 0xb88aefb3), Float(bitPattern: 0xb8378034), Float(bitPattern: 0xb7b24206), Float(bitPattern: 0xb70205ff), Float(bitPattern: 0xb65a1a94), Float(bitPattern: 0xb513a3b7), Float(bitPattern: 0x00000000),
        Float(bitPattern: 0x3513a3b7), Float(bitPattern: 0x365a1a94), Float(bitPattern: 0x370205ff), Float(bitPattern: 0x37b24206), Float(bitPattern: 0x38378034), Float(bitPattern: 0x388aefb3), Float(bitPattern: 0x38ba1f4b), Float(bitPattern: 0x3923d70b),
        Float(bitPattern: 0x398ce705), Float(bitPattern: 0x39c7e283), Float(bitPattern: 0x3a016f01), Float(bitPattern: 0x3a1eecc1), Float(bitPattern: 0x3a3c6a80), Float(bitPattern: 0x3a59e83e), Float(bitPattern: 0x3a7765ff), Float(bitPattern: 0x3aa7ef9d),
        Float(bitPattern: 0x3af1a9fc), Float(bitPattern: 0x3b1db22d), Float(bitPattern: 0x3b428f5c), Float(bitPattern: 0x3b676c8a), Float(bitPattern: 0x3b8624dd), Float(bitPattern: 0x3b989374), Float(bitPattern: 0x3bab020d), Float(bitPattern: 0x3bbd70a4),
        Float(bitPattern: 0x3bcfdf3b), Float(bitPattern: 0x3be24dd3), Float(bitPattern: 0x3bf4bc6a), Float(bitPattern: 0x3c039581), Float(bitPattern: 0x3c0ccccd), Float(bitPattern: 0x3c160418), Float(bitPattern: 0x3c1f3b64), Float(bitPattern: 0x3c3ae148),
        Float(bitPattern: 0x3c68f5c3), Float(bitPattern: 0x3c8b851f), Float(bitPattern: 0x3ca28f5d), Float(bitPattern: 0x3cb9999a), Float(bitPattern: 0x3cd0a3d7), Float(bitPattern: 0x3ce7ae15), Float(bitPattern: 0x3cfeb852), Float(bitPattern: 0x3d0ae148),
        Float(bitPattern: 0x3d166667), Float(bitPattern: 0x3d21eb85), Float(bitPattern: 0x3d2d70a3), Float(bitPattern: 0x3d38f5c3), Float(bitPattern: 0x3d447ae1), Float(bitPattern: 0x3d500000), Float(bitPattern: 0x3d5b851f), Float(bitPattern: 0x3d670a3d),
        Float(bitPattern: 0x3d728f5d), Float(bitPattern: 0x3d7e147b), Float(bitPattern: 0x3d84cccd), Float(bitPattern: 0x3d8a8f5d), Float(bitPattern: 0x3d9051eb), Float(bitPattern: 0x3d96147b), Float(bitPattern: 0x3d9bd70a), Float(bitPattern: 0x3da1999a),
        Float(bitPattern: 0x3da75c2a), Float(bitPattern: 0x3dad1eb8), Float(bitPattern: 0x3db2e148), Float(bitPattern: 0x3db8a3d7), Float(bitPattern: 0x3dbe6667), Float(bitPattern: 0x3dc428f7), Float(bitPattern: 0x3dc9eb85), Float(bitPattern: 0x3ddb3334),
        Float(bitPattern: 0x3df80000), Float(bitPattern: 0x3e0a6666), Float(bitPattern: 0x3e18cccd), Float(bitPattern: 0x3e273333), Float(bitPattern: 0x3e35999a), Float(bitPattern: 0x3e440000), Float(bitPattern: 0x3e526666), Float(bitPattern: 0x3e60cccd),
        Float(bitPattern: 0x3e6f3333), Float(bitPattern: 0x3e7d9999), Float(bitPattern: 0x3e860000), Float(bitPattern: 0x3e8d3334), Float(bitPattern: 0x3e946666), Float(bitPattern: 0x3e9b999a), Float(bitPattern: 0x3ea2cccc), Float(bitPattern: 0x3eaa0000),
        Float(bitPattern: 0x3eb13333), Float(bitPattern: 0x3eb86666), Float(bitPattern: 0x3ebf999a), Float(bitPattern: 0x3ec6cccc), Float(bitPattern: 0x3ece0000), Float(bitPattern: 0x3ed53333), Float(bitPattern: 0x3edc6666), Float(bitPattern: 0x3ee3999a),
        Float(bitPattern: 0x3eeacccc), Float(bitPattern: 0x3ef20000), Float(bitPattern: 0x3ef93332), Float(bitPattern: 0x3f003333), Float(bitPattern: 0x3f03cccc), Float(bitPattern: 0x3f076666), Float(bitPattern: 0x3f0b0000), Float(bitPattern: 0x3f0e999a),
        Float(bitPattern: 0x3f123334), Float(bitPattern: 0x3f15cccd), Float(bitPattern: 0x3f196666), Float(bitPattern: 0x3f1d0000), Float(bitPattern: 0x3f20999a), Float(bitPattern: 0x3f243334), Float(bitPattern: 0x3f27cccd), Float(bitPattern: 0x3f2b6666),
        Float(bitPattern: 0x3f2f0000), Float(bitPattern: 0x3f32999a), Float(bitPattern: 0x3f363334), Float(bitPattern: 0x3f39cccd), Float(bitPattern: 0x3f3d6666), Float(bitPattern: 0x3f410000), Float(bitPattern: 0x3f44999a), Float(bitPattern: 0x3f483333),
        Float(bitPattern: 0x3f4bcccd), Float(bitPattern: 0x3f4f6666), Float(bitPattern: 0x3f530000), Float(bitPattern: 0x3f56999a), Float(bitPattern: 0x3f5a3333), Float(bitPattern: 0x3f5dcccd), Float(bitPattern: 0x3f616666), Float(bitPattern: 0x3f650000),
        Float(bitPattern: 0x3f68999a), Float(bitPattern: 0x3f6c3333), Float(bitPattern: 0x3f6fcccd), Float(bitPattern: 0x3f736666), Float(bitPattern: 0x3f770000), Float(bitPattern: 0x3f7a999a), Float(bitPattern: 0x3f7e3333), Float(bitPattern: 0x3f800000),
    ]
}
