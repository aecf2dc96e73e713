// The LoadableClass lines of this assembly's saveable transformers, apart from MlNetInternals.cs so that another
// assembly (MLNetTuning.Onnx) can compile that file with registrations of its own.
using Microsoft.ML;
using MLNetTuning.MlNet;

// One line per saveable transformer. ML.NET finds the loader by the signature stored in the zip; the zip also names
// this assembly, so a fresh process that references it needs no ComponentCatalog.RegisterAssembly.
[assembly: LoadableClass(typeof(LinearHeadTransformer), typeof(MlNetModelLoader<LinearHeadTransformer>), null,
    typeof(SignatureLoadModel), "MLNetTuning linear head", LinearHeadTransformer.LoaderSignature)]

[assembly: LoadableClass(typeof(MLNetTuning.BertFineTuneTransformer), typeof(MlNetModelLoader<MLNetTuning.BertFineTuneTransformer>), null,
    typeof(SignatureLoadModel), "MLNetTuning BERT fine-tune", MLNetTuning.BertFineTuneTransformer.LoaderSignature)]
[assembly: LoadableClass(typeof(MLNetTuning.BertEmbeddingsTransformer), typeof(MlNetModelLoader<MLNetTuning.BertEmbeddingsTransformer>), null,
    typeof(SignatureLoadModel), "MLNetTuning BERT embeddings", MLNetTuning.BertEmbeddingsTransformer.LoaderSignature)]
