# The model server without libtorch: mlnet-serve (src/MLNetTuning.Serve) scores an ONNX export with ONNX Runtime through
# MLNetTuning.Onnx, every task (classification, regression, multi-label, token classification with entities, question
# answering) with the same JSON as `mlnet-tune serve model.zip`. Build from the repository root:
#   docker build -t mlnet-serve .
#   mlnet-tune export model.zip export/model.onnx --format onnx [--quantize int8]
#   docker run --rm -p 8080:8080 -v "$PWD/export:/model:ro" mlnet-serve
# The folder mounted at /model holds model.onnx with mlnet_scoring.json and the tokenizer files that export wrote beside it.
# Options after the image name replace the model path: docker run ... mlnet-serve /model/model.onnx --max-batch 64

# Stage 1: publish with the SDK (the build runs the repository's ML.NET publicizer step, so it needs the whole source).
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY . .
RUN dotnet publish src/MLNetTuning.Serve/MLNetTuning.Serve.csproj -c Release -r linux-x64 --self-contained false -o /app

# Stage 2: the ASP.NET Core runtime and the published folder only (ONNX Runtime's native library, no libtorch).
FROM mcr.microsoft.com/dotnet/aspnet:10.0
WORKDIR /app
COPY --from=build /app .
EXPOSE 8080
# The image's non-root user; the model is mounted read-only.
USER $APP_UID
# Probes: GET /healthz (liveness, with the queue length) and GET /info; the aspnet image has no curl, so probe from outside.
ENTRYPOINT ["dotnet", "mlnet-serve.dll", "--host", "0.0.0.0", "--port", "8080"]
CMD ["/model/model.onnx"]
