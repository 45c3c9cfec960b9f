/**
 * msgpack without a dependency: the whole format, mapped to JS values the way Python's
 * `msgpack` (with `use_bin_type=True`, `raw=False`) maps them to Python values, so the bytes
 * match what channels_redis writes and reads.
 *
 * @module
 */
export {
  DEFAULT_MSGPACK_MAX_DEPTH,
  ExtensionNotSupported,
  MsgpackDecodeError,
  MsgpackExt,
  decode,
  type DecodeOptions,
  type MsgpackDecodeErrorCode,
  type MsgpackObject,
  type MsgpackValue,
} from './decode.js';
export { MsgpackEncodeError, encode, type EncodeOptions, type MsgpackEncodeErrorCode } from './encode.js';
