#!/usr/bin/env bash
# Regenerates Sources/CapsExport/ONNX/onnx.pb.swift, the ONNX message code CapsExport writes models
# with. Run by hand when the ONNX schema should move; the build never runs it (no protobuf build plugin).
#
# Generated from onnx.proto of the onnx Python package 1.23.2 (pip install onnx==1.23.2), with
# protoc 3.21.12 (Debian 12: apt-get install protobuf-compiler) and protoc-gen-swift of
# swift-protobuf 1.39.0 (the version Package.swift names), built outside the repository:
#
#   git clone --branch 1.39.0 https://github.com/apple/swift-protobuf /tmp/swift-protobuf
#   (cd /tmp/swift-protobuf && swift build -c release --product protoc-gen-swift)
#   PROTOC_GEN_SWIFT=/tmp/swift-protobuf/.build/release/protoc-gen-swift bash Tools/dev/generate_onnx_swift.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${PROTOC_GEN_SWIFT:?set PROTOC_GEN_SWIFT to a protoc-gen-swift binary of swift-protobuf 1.39.0}"
proto_dir=$(python3 -c 'import onnx, os; print(os.path.dirname(onnx.__file__))')
echo "onnx $(python3 -c 'import onnx; print(onnx.__version__)'), $(protoc --version), protoc-gen-swift $("$PROTOC_GEN_SWIFT" --version)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$proto_dir/onnx.proto" "$work/onnx.proto"
protoc --plugin=protoc-gen-swift="$PROTOC_GEN_SWIFT" --proto_path="$work" \
  --swift_opt=Visibility=Internal --swift_out="$work" "$work/onnx.proto"
mkdir -p Sources/CapsExport/ONNX
cp "$work/onnx.pb.swift" Sources/CapsExport/ONNX/onnx.pb.swift
echo "wrote Sources/CapsExport/ONNX/onnx.pb.swift"
