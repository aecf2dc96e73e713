using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetTuning.Tests;

/// <summary>Token classification from a checkpoint that carries a pooler, as every Hugging Face BertModel checkpoint (and the embedded MiniLM) does.</summary>
[Collection(TinyBertEstimatorCollection.Name)]
public sealed class TokenClassificationCheckpointTests(TinyBertFixture tiny)
{
    private sealed class Tagged
    {
        public string[] Words { get; set; } = [];
        public string[] Tags { get; set; } = [];
    }

    [Fact]
    public void FitsFromACheckpointWithAPooler_TheTokenModelHasNoneAndLeavesItOut()
    {
        // The tiny checkpoint is saved from a BertModel with its pooler, like the real ones.
        var ml = new MLContext(seed: 1);
        var rows = Enumerable.Range(0, 8).Select(i => new Tagged
        {
            Words = ["the", "team", "review", i % 2 == 0 ? "code" : "report"],
            Tags = ["O", "B-ORG", "O", i % 2 == 0 ? "B-MISC" : "O"],
        }).ToList();
        var data = ml.Data.LoadFromEnumerable(rows);
        var options = new BertFineTuneOptions
        {
            Model = tiny.Folder, TextColumnName = nameof(Tagged.Words), LabelColumnName = nameof(Tagged.Tags),
            Epochs = 1, BatchSize = 4, MaxSequenceLength = 16, Seed = 1, NumberOfThreads = 1,
        };
        var model = ml.Transforms.Conversion.MapValueToKey(nameof(Tagged.Tags))
            .Append(ml.MulticlassClassification.Trainers.BertTokenClassification(options)).Fit(data);
        var predicted = model.Transform(data).GetColumn<VBuffer<uint>>("PredictedLabel").ToList();
        Assert.All(predicted, p => Assert.Equal(4, p.Length));
        model.LastTransformer.Dispose();
    }
}
